//! Security Hub's EventBridge deliveries: the OCSF findings of Security Hub (`Findings Imported V2`,
//! the user guide's "EventBridge event formats") and the AWS Security Finding Format of Security Hub
//! CSPM (`Security Hub Findings - Imported`). Each event carries one finding in `detail.findings`.
//! A finding GuardDuty made is named by its GuardDuty finding ARN (`finding_info.uid`, ASFF `Id`), so
//! that it is decided from GuardDuty's own copy, under the same key as GuardDuty's own event.

use super::envelope::{envelope_origin, field, typed, Envelope};
use super::lenient;
use crate::error::{Error, Result};
use crate::incident::{FindingFormat, GuardDutyOrigin, Incident, IncidentKind, SecurityHubFinding, SecurityHubRef};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What a note of Firebreak's own write-back starts with. With the finding's own update time in it,
/// it tells Firebreak's echo (Security Hub re-delivers a finding it updated) from news.
pub const WRITE_BACK_MARK: &str = "Firebreak";

/// The words a write-back note carries the finding's own update time in.
pub const AS_OF: &str = "finding as of ";

/// Security Hub sends one finding per event; a delivery of more is not one it makes.
const MAX_FINDINGS: usize = 1;

#[derive(Deserialize)]
struct Findings<F> {
    findings: Vec<F>,
}

#[derive(Deserialize)]
struct Ocsf {
    finding_info: OcsfInfo,
    metadata: OcsfMetadata,
    #[serde(default)]
    cloud: Option<OcsfCloud>,
    #[serde(default)]
    resources: Vec<OcsfResource>,
    #[serde(default, deserialize_with = "lenient::text")]
    severity: Option<String>,
    #[serde(default)]
    severity_id: Option<u8>,
    #[serde(default, deserialize_with = "lenient::text")]
    status: Option<String>,
}

#[derive(Deserialize)]
struct OcsfInfo {
    uid: String,
    #[serde(default, deserialize_with = "lenient::text")]
    title: Option<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    modified_time_dt: Option<String>,
}

#[derive(Deserialize)]
struct OcsfMetadata {
    product: OcsfProduct,
}

#[derive(Deserialize)]
struct OcsfProduct {
    #[serde(default, deserialize_with = "lenient::text")]
    name: Option<String>,
    uid: String,
    #[serde(default)]
    feature: Option<OcsfFeature>,
}

#[derive(Deserialize)]
struct OcsfFeature {
    #[serde(default, deserialize_with = "lenient::text")]
    name: Option<String>,
}

#[derive(Deserialize)]
struct OcsfCloud {
    #[serde(default)]
    account: Option<OcsfAccount>,
}

#[derive(Deserialize)]
struct OcsfAccount {
    #[serde(default, deserialize_with = "lenient::text")]
    uid: Option<String>,
}

#[derive(Deserialize)]
struct OcsfResource {
    #[serde(default, deserialize_with = "lenient::text", rename = "type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    uid: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Asff {
    id: String,
    product_arn: String,
    #[serde(default, deserialize_with = "lenient::text")]
    product_name: Option<String>,
    #[serde(default)]
    product_fields: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "lenient::text")]
    aws_account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    title: Option<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    severity: Option<AsffSeverity>,
    #[serde(default)]
    resources: Vec<AsffResource>,
    #[serde(default)]
    workflow: Option<AsffWorkflow>,
    #[serde(default, deserialize_with = "lenient::text")]
    record_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AsffSeverity {
    #[serde(default, deserialize_with = "lenient::text")]
    label: Option<String>,
    #[serde(default)]
    product: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AsffResource {
    #[serde(default, deserialize_with = "lenient::text", rename = "Type")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::text")]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AsffWorkflow {
    #[serde(default, deserialize_with = "lenient::text")]
    status: Option<String>,
}

/// A `Findings Imported V2` event: its one OCSF finding.
pub(super) fn parse_ocsf(value: Value, prefix: &str) -> Result<Incident> {
    let envelope: Envelope<Findings<Ocsf>> = typed(value, prefix)?;
    let finding = one(envelope.detail.findings, prefix)?;
    let at = field(prefix, "detail.findings[0]");
    let account = finding.cloud.and_then(|c| c.account).and_then(|a| a.uid).or(envelope.account.clone());
    let time = finding.finding_info.modified_time_dt.unwrap_or_default();
    let sequence = finding.finding_info.types.iter().any(|t| t.starts_with("AttackSequence:"))
        || finding.metadata.product.feature.and_then(|f| f.name).as_deref() == Some("Correlation");
    let guardduty = guardduty_origin(&finding.metadata.product.uid, "productv2", &finding.finding_info.uid, sequence)
        .map(|origin| GuardDutyOrigin {
            finding_type: finding.finding_info.types.iter().find(|t| t.contains(':')).cloned(),
            ..origin
        });
    let label = finding.severity.unwrap_or_else(|| "Unknown".into());
    // Only a new finding is news: Firebreak's write-back never leaves one new (In Progress, Resolved), so
    // its echo is known by the status Security Hub holds, never by a note anyone can write.
    let closed = finding.status.filter(|s| ["In Progress", "Resolved", "Suppressed", "Archived"].contains(&s.as_str()));
    let reference = SecurityHubRef {
        format: FindingFormat::Ocsf,
        id: finding.finding_info.uid.clone(),
        product_uid: finding.metadata.product.uid.clone(),
        account: account.clone().ok_or_else(|| Error::refused(field(&at, "cloud.account.uid"), "missing"))?,
        region: envelope.region.clone().ok_or_else(|| Error::refused(field(prefix, "region"), "missing"))?,
        updated_at: time,
    };
    let finding = SecurityHubFinding {
        format: FindingFormat::Ocsf,
        product: finding.metadata.product.name.unwrap_or_else(|| finding.metadata.product.uid.clone()),
        title: finding.finding_info.title.unwrap_or_else(|| finding.finding_info.types.join(", ")),
        severity: ocsf_severity(finding.severity_id),
        severity_label: label,
        resources: finding
            .resources
            .into_iter()
            .map(|r| format!("{} {}", r.kind.unwrap_or_default(), r.uid.unwrap_or_default()).trim().to_owned())
            .collect(),
        closed,
        guardduty,
    };
    Ok(incident(envelope.id, account.as_deref(), envelope.region.as_deref(), finding, reference))
}

/// A `Security Hub Findings - Imported` event: its one ASFF finding.
pub(super) fn parse_asff(value: Value, prefix: &str) -> Result<Incident> {
    let envelope: Envelope<Findings<Asff>> = typed(value, prefix)?;
    let finding = one(envelope.detail.findings, prefix)?;
    let at = field(prefix, "detail.findings[0]");
    let time = finding.updated_at.clone().unwrap_or_default();
    let product_field = |name: &str| finding.product_fields.get(name).and_then(Value::as_str);
    let sequence = finding.types.iter().any(|t| t.contains("AttackSequence:"))
        || product_field("aws/guardduty/service/featureName") == Some("Correlation");
    let guardduty =
        guardduty_origin(&finding.product_arn, "product", &finding.id, sequence).map(|origin| GuardDutyOrigin {
            finding_type: finding
                .types
                .iter()
                .filter(|t| t.contains(':'))
                .find_map(|t| t.rsplit('/').next().map(str::to_owned)),
            dns_domain: product_field("aws/guardduty/service/action/dnsRequestAction/domain").map(str::to_owned),
            ..origin
        });
    let severity = finding.severity.as_ref();
    let label = severity.and_then(|s| s.label.clone()).unwrap_or_else(|| "INFORMATIONAL".into());
    // GuardDuty puts its own score in `Severity.Product`; other products' labels are mapped.
    let score = match (&guardduty, severity.and_then(|s| s.product)) {
        (Some(_), Some(score)) => score,
        _ => asff_severity(&label),
    };
    let workflow = finding.workflow.and_then(|w| w.status);
    let closed = match (finding.record_state.as_deref(), workflow.as_deref()) {
        (Some("ARCHIVED"), _) => Some("ARCHIVED".to_owned()),
        (_, Some(status @ ("NOTIFIED" | "RESOLVED" | "SUPPRESSED"))) => Some(status.to_owned()),
        _ => None,
    };
    let account = finding.aws_account_id.clone().or(envelope.account.clone());
    let reference = SecurityHubRef {
        format: FindingFormat::Asff,
        id: finding.id.clone(),
        product_uid: finding.product_arn.clone(),
        account: account.clone().ok_or_else(|| Error::refused(field(&at, "AwsAccountId"), "missing"))?,
        region: envelope.region.clone().ok_or_else(|| Error::refused(field(prefix, "region"), "missing"))?,
        updated_at: time,
    };
    let finding = SecurityHubFinding {
        format: FindingFormat::Asff,
        product: finding.product_name.clone().unwrap_or_else(|| finding.product_arn.clone()),
        title: finding.title.unwrap_or_else(|| finding.types.join(", ")),
        severity: score,
        severity_label: label,
        resources: finding
            .resources
            .into_iter()
            .map(|r| format!("{} {}", r.kind.unwrap_or_default(), r.id.unwrap_or_default()).trim().to_owned())
            .collect(),
        closed,
        guardduty,
    };
    Ok(incident(envelope.id, account.as_deref(), envelope.region.as_deref(), finding, reference))
}

fn one<F>(mut findings: Vec<F>, prefix: &str) -> Result<F> {
    if findings.len() != MAX_FINDINGS {
        return Err(Error::refused(
            field(prefix, "detail.findings"),
            format!("expected the one finding Security Hub sends per event, found {}", findings.len()),
        ));
    }
    Ok(findings.remove(0))
}

fn incident(
    delivery_id: Option<String>,
    account: Option<&str>,
    region: Option<&str>,
    finding: SecurityHubFinding,
    reference: SecurityHubRef,
) -> Incident {
    // A GuardDuty finding happened where GuardDuty says, whichever account's hub delivered it.
    let origin = match &finding.guardduty {
        Some(g) => envelope_origin(Some(&g.account), Some(&g.region)),
        None => envelope_origin(account, region),
    };
    Incident {
        delivery_id,
        origin,
        kind: IncidentKind::SecurityHub(finding),
        event: None,
        security_hub: Some(reference),
    }
}

/// The GuardDuty finding behind a Security Hub finding whose product is GuardDuty's (`<kind>/aws/guardduty`)
/// and whose id is a GuardDuty finding ARN: `arn:<partition>:guardduty:<region>:<account>:detector/<detector>/finding/<id>`.
fn guardduty_origin(product: &str, kind: &str, id: &str, sequence: bool) -> Option<GuardDutyOrigin> {
    // AWS's own products have no account in their ARN: `arn:aws:securityhub:<region>::product/aws/…`.
    if !product.ends_with(&format!("::{kind}/aws/guardduty")) {
        return None;
    }
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    let [_, _, "guardduty", region, account, resource] = parts.as_slice() else { return None };
    let (detector, finding) = resource.strip_prefix("detector/")?.split_once("/finding/")?;
    Some(GuardDutyOrigin {
        detector_id: detector.to_owned(),
        finding_id: finding.to_owned(),
        account: (*account).to_owned(),
        region: (*region).to_owned(),
        sequence,
        finding_type: None,
        dns_domain: None,
    })
}

/// OCSF `severity_id` on GuardDuty's scale: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical, 6 Fatal.
fn ocsf_severity(id: Option<u8>) -> f64 {
    match id {
        Some(2) => 2.0,
        Some(3) => 5.0,
        Some(4) => 8.0,
        Some(5) => 9.0,
        Some(6) => 10.0,
        _ => 0.0,
    }
}

/// ASFF `Severity.Label` on GuardDuty's scale.
fn asff_severity(label: &str) -> f64 {
    match label {
        "LOW" => 2.0,
        "MEDIUM" => 5.0,
        "HIGH" => 8.0,
        "CRITICAL" => 9.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_value;
    use crate::incident::IncidentKind;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../events/securityhub/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json")
    }

    fn finding(event: Value) -> (SecurityHubFinding, Incident) {
        let incident = parse_value(event).expect("parses").remove(0);
        match &incident.kind {
            IncidentKind::SecurityHub(f) => (f.clone(), incident),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_guardduty_finding_is_known_by_its_guardduty_arn_in_either_format() {
        for (name, format) in [
            ("ocsf-guardduty-ec2-backdoor.json", FindingFormat::Ocsf),
            ("asff-guardduty-ec2-backdoor.json", FindingFormat::Asff),
        ] {
            let (f, incident) = finding(sample(name));
            let g = f.guardduty.expect(name);
            assert_eq!(
                (g.detector_id.as_str(), g.finding_id.as_str(), g.account.as_str(), g.region.as_str(), g.sequence),
                (
                    "12abc34d567e8fa901bc2d34eexample",
                    "a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7",
                    "123456789012",
                    "us-east-1",
                    false
                )
            );
            let reference = incident.security_hub.expect("where to write back");
            assert_eq!(reference.format, format);
            assert!(reference.id.ends_with("/finding/a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7"), "{name}");
            assert!(reference.product_uid.ends_with("/aws/guardduty"), "{name}");
            assert_eq!(f.severity, 8.0, "{name}");
        }
    }

    #[test]
    fn another_products_finding_keeps_its_product_severity_and_resources() {
        let (f, _) = finding(sample("asff-inspector-ec2-cve.json"));
        assert_eq!((f.product.as_str(), f.severity_label.as_str(), f.severity), ("Inspector", "HIGH", 8.0));
        assert_eq!(f.resources, ["AwsEc2Instance arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234def567890"]);
        assert!(f.guardduty.is_none() && f.closed.is_none());
    }

    /// A product ARN that merely ends in something GuardDuty-like, or an id that is not a GuardDuty
    /// finding ARN, is not GuardDuty's.
    #[test]
    fn only_guardduty_s_product_and_a_guardduty_finding_arn_make_a_guardduty_finding() {
        let mut event = sample("asff-guardduty-ec2-backdoor.json");
        event["detail"]["findings"][0]["ProductArn"] =
            json!("arn:aws:securityhub:us-east-1:999999999999:product/evil/guardduty");
        assert!(finding(event).0.guardduty.is_none());
        let mut event = sample("asff-guardduty-ec2-backdoor.json");
        event["detail"]["findings"][0]["Id"] = json!("arn:aws:inspector2:us-east-1:123456789012:finding/abc");
        assert!(finding(event).0.guardduty.is_none());
    }

    #[test]
    fn a_resolved_or_archived_finding_is_closed_and_a_sequence_is_known() {
        let mut event = sample("asff-inspector-ec2-cve.json");
        event["detail"]["findings"][0]["Workflow"]["Status"] = json!("RESOLVED");
        assert_eq!(finding(event).0.closed.as_deref(), Some("RESOLVED"));
        let mut event = sample("ocsf-guardduty-ec2-backdoor.json");
        event["detail"]["findings"][0]["status"] = json!("Suppressed");
        assert_eq!(finding(event).0.closed.as_deref(), Some("Suppressed"));
        let mut event = sample("ocsf-guardduty-ec2-backdoor.json");
        event["detail"]["findings"][0]["finding_info"]["types"] =
            json!(["AttackSequence:EC2/CompromisedInstanceGroup"]);
        assert!(finding(event).0.guardduty.expect("guardduty").sequence);
    }

    /// Hole 7 of #44: a note is anyone's to write (a member on its own findings), so it says nothing of
    /// an echo. Firebreak's write-back never leaves a finding new (NOTIFIED or RESOLVED; In Progress or
    /// Resolved), and only a new finding is news: the status Security Hub holds tells the echo.
    #[test]
    fn an_echo_is_known_by_the_status_security_hub_holds_never_by_a_note() {
        let mut event = sample("asff-guardduty-ec2-backdoor.json");
        let note = format!("{WRITE_BACK_MARK} incident#…: contained ({AS_OF}2026-11-24T05:58:11.000Z)");
        event["detail"]["findings"][0]["Note"] =
            json!({"Text": note, "UpdatedBy": "firebreak", "UpdatedAt": "2026-11-24T06:01:00Z"});
        assert_eq!(finding(event.clone()).0.closed, None, "a forged note on a new finding: still news");
        for status in ["NOTIFIED", "RESOLVED"] {
            event["detail"]["findings"][0]["Workflow"] = json!({"Status": status});
            assert_eq!(finding(event.clone()).0.closed.as_deref(), Some(status));
        }
        let mut ocsf = sample("ocsf-guardduty-ec2-backdoor.json");
        ocsf["detail"]["findings"][0]["comment"] = json!(format!("{WRITE_BACK_MARK}: notified"));
        assert_eq!(finding(ocsf.clone()).0.closed, None);
        ocsf["detail"]["findings"][0]["status"] = json!("In Progress");
        ocsf["detail"]["findings"][0]["status_id"] = json!(2);
        assert_eq!(finding(ocsf).0.closed.as_deref(), Some("In Progress"));
    }

    #[test]
    fn a_delivery_of_other_than_one_finding_is_refused_naming_the_field() {
        let mut event = sample("asff-inspector-ec2-cve.json");
        let one = event["detail"]["findings"][0].clone();
        event["detail"]["findings"] = json!([one.clone(), one]);
        let refused = parse_value(event).expect_err("refused").to_string();
        assert!(refused.contains("detail.findings"), "{refused}");
        let mut event = sample("ocsf-guardduty-ec2-backdoor.json");
        event["detail"]["findings"][0]["finding_info"].as_object_mut().expect("object").remove("uid");
        let refused = parse_value(event).expect_err("refused").to_string();
        assert!(refused.contains("finding_info"), "{refused}");
    }
}
