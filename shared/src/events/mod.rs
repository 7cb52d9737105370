//! Envelope detection and parsing: payload bytes in, typed [`Incident`]s out.
//!
//! Detection is by shape (`detail-type`, `alarmData`, `Records[].Sns`), never by file name or flag.
//! Only the fields Firebreak reads are deserialised; everything else is ignored, so real payloads that
//! vary in what does not matter (timestamps, `asn` types, `{}` for empty lists) still parse.

mod alarm;
mod cloudtrail;
mod envelope;
mod guardduty;
mod lenient;
mod securityhub;
mod sequence;

pub use securityhub::{AS_OF, WRITE_BACK_MARK};
pub use sequence::GROUP_LIST_MAX as SEQUENCE_GROUP_LIST_MAX;
mod sns;

use crate::error::{Error, Result};
use crate::incident::{Incident, IncidentKind};
use envelope::{envelope_origin, field, typed, Envelope};
use serde_json::Value;

/// Lambda's own limit for an asynchronous event is 256 KiB; anything far beyond is hostile or a mistake.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Parse one payload as a Lambda function receives it. Several SNS records give several incidents.
pub fn parse_payload(bytes: &[u8]) -> Result<Vec<Incident>> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::refused(
            "payload",
            format!("{} bytes exceeds the {} byte limit", bytes.len(), MAX_PAYLOAD_BYTES),
        ));
    }
    if let Some(incident) = parse_eventbridge_bytes(bytes) {
        return incident.map(|i| vec![i]);
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::refused("payload", format!("not valid JSON: {e}")))?;
    parse_value(value)
}

/// The EventBridge events read straight from their bytes (the busiest kinds), in one pass with no tree
/// built: a payload that names one of their detail types is tried as that kind's typed event, and kept
/// when it is one. `None` otherwise, also for a payload that is not quite one (a field of the wrong
/// type): the general path reads it and refuses it naming the field.
fn parse_eventbridge_bytes(bytes: &[u8]) -> Option<Result<Incident>> {
    // Detail types are JSON strings of their own: in an SNS delivery the inner event is escaped, and
    // goes to the general path. One look for each kind, with finders built once.
    static GUARDDUTY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"GuardDuty Finding\""));
    static CLOUDTRAIL: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b" via CloudTrail\""));
    if GUARDDUTY.find(bytes).is_some() {
        if let Some(incident) = guardduty::parse_bytes(bytes) {
            return Some(incident);
        }
    }
    if CLOUDTRAIL.find(bytes).is_some() {
        return cloudtrail::parse_bytes(bytes);
    }
    None
}

/// Parse an already-decoded payload (the Lambda runtime hands us a `Value`).
pub fn parse_value(value: Value) -> Result<Vec<Incident>> {
    parse_at(value, "", true)
}

/// [`parse_value`], keeping with each GuardDuty and alarm incident the text of the event it came from:
/// what a request for approval stores, to decide again when a person approves. Writing the text out
/// costs, so only a function whose policy asks for approval keeps it.
pub fn parse_value_keeping_events(value: Value) -> Result<Vec<Incident>> {
    let texts = event_texts(&value);
    let mut incidents = parse_value(value)?;
    if texts.len() == incidents.len() {
        for (incident, text) in incidents.iter_mut().zip(texts) {
            if matches!(
                incident.kind,
                IncidentKind::Guardduty(_) | IncidentKind::Alarm(_) | IncidentKind::SecurityHub(_)
            ) {
                incident.event = text;
            }
        }
    }
    Ok(incidents)
}

/// The event each incident of `value` is parsed from, as text that parses back alone, in parse order:
/// an EventBridge event or an alarm action itself, each SNS record as a delivery of its own (an alarm's
/// SNS message is not a payload by itself), an SNS notification whole.
fn event_texts(value: &Value) -> Vec<Option<String>> {
    if value.get("detail-type").is_some() || value.get("alarmData").is_some() {
        vec![Some(value.to_string())]
    } else if let Some(records) = value.get("Records").and_then(Value::as_array) {
        records.iter().map(|r| Some(serde_json::json!({ "Records": [r] }).to_string())).collect()
    } else if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        vec![Some(value.to_string())]
    } else {
        vec![None]
    }
}

fn parse_at(value: Value, prefix: &str, allow_sns: bool) -> Result<Vec<Incident>> {
    let Value::Object(map) = &value else {
        return Err(Error::refused(field(prefix, "payload"), "expected a JSON object"));
    };
    if let Some(detail_type) = map.get("detail-type") {
        let detail_type = detail_type
            .as_str()
            .ok_or_else(|| Error::refused(field(prefix, "detail-type"), "expected a string"))?
            .to_owned();
        return parse_eventbridge(value, &detail_type, prefix).map(|i| vec![i]);
    }
    if map.contains_key("alarmData") {
        return alarm::parse_alarm_action(value, prefix).map(|i| vec![i]);
    }
    if allow_sns {
        if let Some(records) = map.get("Records") {
            return sns::parse_sns_records(records, prefix, parse_forwarded);
        }
        if map.get("Type").and_then(Value::as_str) == Some("Notification") && map.contains_key("TopicArn") {
            return sns::parse_sns_http_body(value, prefix, parse_forwarded).map(|i| vec![i]);
        }
    }
    Err(Error::refused(
        field(prefix, "payload"),
        "unknown shape: no `detail-type` (EventBridge), `alarmData` (alarm action) or `Records[].Sns` (SNS)",
    ))
}

/// A finding as GuardDuty's `GetFindings` returns it, read as the `detail` of the event it was
/// delivered in (`delivery_id`): the API's `Finding` is the event's `detail` (its `additionalInfo` a
/// JSON text, which the parser reads either way). Errors name `GetFindings.detail.<field>`.
pub fn parse_guardduty_api_finding(finding: Value, delivery_id: Option<String>) -> Result<Incident> {
    let envelope = serde_json::json!({
        "id": delivery_id,
        "account": finding.get("accountId"),
        "region": finding.get("region"),
        "detail": finding,
    });
    guardduty::parse_envelope(envelope, "GetFindings")
}

/// GuardDuty's own copy of a finding (as `GetFindings` answers it) as the EventBridge event GuardDuty
/// publishes for it, in text: what a request for approval and the queue of held-back containments keep,
/// so that every later decision is GuardDuty's copy's, whichever delivery (Security Hub's included)
/// asked. It parses back as a `GuardDuty Finding`.
pub fn guardduty_event_text(finding: &Value, delivery_id: Option<&str>) -> String {
    serde_json::json!({
        "version": "0",
        "id": delivery_id.or_else(|| finding.get("id").and_then(Value::as_str)),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": finding.get("accountId"),
        "time": finding.get("updatedAt"),
        "region": finding.get("region"),
        "resources": [],
        "detail": finding,
    })
    .to_string()
}

/// An EventBridge event forwarded through SNS; SNS inside SNS is not a shape AWS sends.
fn parse_forwarded(value: Value, at: &str) -> Result<Incident> {
    let mut incidents = parse_at(value, at, false)?;
    match incidents.len() {
        1 => Ok(incidents.remove(0)),
        n => Err(Error::refused(at, format!("expected one event, found {n}"))),
    }
}

fn parse_eventbridge(value: Value, detail_type: &str, prefix: &str) -> Result<Incident> {
    match detail_type {
        "GuardDuty Finding" => guardduty::parse_envelope(value, prefix),
        "CloudWatch Alarm State Change" => {
            let incident = alarm::parse_eventbridge(value, prefix)?;
            match &incident.kind {
                IncidentKind::Alarm(a) if a.contributor.is_some() => Err(Error::refused(
                    field(prefix, "detail.alarmContributor"),
                    "only a `CloudWatch Alarm Contributor State Change` names a contributor",
                )),
                _ => Ok(incident),
            }
        }
        "CloudWatch Alarm Contributor State Change" => alarm::parse_contributor(value, prefix),
        "Findings Imported V2" => securityhub::parse_ocsf(value, prefix),
        "Security Hub Findings - Imported" => securityhub::parse_asff(value, prefix),
        "AWS API Call via CloudTrail" | "AWS Console Sign In via CloudTrail" | "AWS Service Event via CloudTrail" => {
            cloudtrail::parse_envelope(value, prefix)
        }
        "CloudWatch Alarm Configuration Change" => {
            let envelope: Envelope<serde::de::IgnoredAny> = typed(value, prefix)?;
            Ok(Incident {
                delivery_id: envelope.id,
                origin: envelope_origin(envelope.account.as_deref(), envelope.region.as_deref()),
                kind: IncidentKind::Recognised {
                    detail_type: detail_type.to_owned(),
                    why: "alarm configuration changes are informational; only state changes are acted on".into(),
                },
                event: None,
                security_hub: None,
            })
        }
        other => Err(Error::refused(field(prefix, "detail-type"), format!("unsupported value {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn refusal(value: Value) -> String {
        match parse_value(value) {
            Err(Error::Refused { field, message }) => format!("{field}: {message}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn guardduty(detail: Value) -> Value {
        json!({"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "account": "123456789012", "region": "us-east-1", "detail": detail})
    }

    fn finding() -> Value {
        json!({"id": "f1", "type": "Backdoor:EC2/C&CActivity.B", "severity": 8, "accountId": "123456789012", "region": "us-east-1",
               "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0abc1234def567890"}}})
    }

    #[test]
    fn refusals_name_the_decisive_field() {
        let mut f = finding();
        f["severity"] = json!("high");
        assert!(refusal(guardduty(f)).starts_with("detail.severity:"));
        let mut f = finding();
        f["resource"]["resourceType"] = json!("Spaceship");
        assert!(refusal(guardduty(f)).starts_with("detail.resource.resourceType:"));
        let mut f = finding();
        f["resource"]["instanceDetails"]["instanceId"] = json!("i-nothex");
        assert!(refusal(guardduty(f)).starts_with("detail.resource.instanceDetails.instanceId:"));
        let mut f = finding();
        f["severity"] = json!(42);
        assert!(refusal(guardduty(f)).starts_with("detail.severity:"));
        assert!(refusal(json!({"detail-type": "Something Else", "detail": {}})).starts_with("detail-type:"));
        assert!(refusal(json!({"hello": "world"})).starts_with("payload:"));
        assert!(refusal(json!([1, 2])).starts_with("payload:"));
    }

    #[test]
    fn refusals_inside_an_sns_message_name_the_record() {
        let message = json!({"AlarmName": "x", "NewStateValue": "MAYBE"}).to_string();
        let record = json!({"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn", "Sns": {
            "Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Timestamp": "2026-11-24T06:00:00.000Z",
            "SignatureVersion": "1", "Signature": "s", "SigningCertUrl": "u", "UnsubscribeUrl": "u", "Message": message}});
        let text = refusal(json!({"Records": [record]}));
        assert!(text.starts_with("Records[0].Sns.Message.NewStateValue:"), "{text}");
    }

    #[test]
    fn a_guardduty_event_is_kept_as_text_only_when_asked_and_parses_back_to_the_same_incident() {
        let direct = guardduty(finding());
        assert_eq!(parse_value(direct.clone()).expect("parses")[0].event, None, "not kept by default");
        let message = direct.to_string();
        let record = json!({"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn", "Sns": {
            "Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Timestamp": "2026-11-24T06:00:00.000Z",
            "SignatureVersion": "1", "Signature": "s", "SigningCertUrl": "u", "UnsubscribeUrl": "u", "Message": message}});
        for payload in [direct, json!({"Records": [record]})] {
            let kept = parse_value_keeping_events(payload).expect("parses").remove(0);
            let text = kept.event.clone().expect("kept");
            let again = parse_payload(text.as_bytes()).expect("the kept text parses").remove(0);
            assert_eq!(again.kind, kept.kind);
        }
    }

    #[test]
    fn an_alarm_is_kept_in_every_delivery_form_as_text_that_parses_back_to_the_same_incident() {
        for form in ["idle-cpu-eventbridge.json", "idle-cpu-alarm-action.json", "idle-cpu-sns.json"] {
            let path = format!("{}/../events/alarm/{form}", env!("CARGO_MANIFEST_DIR"));
            let payload: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
            let kept = parse_value_keeping_events(payload).expect("parses").remove(0);
            let text = kept.event.clone().expect("kept");
            let again = parse_payload(text.as_bytes()).expect("the kept text parses").remove(0);
            assert_eq!(again.kind, kept.kind, "{form}");
            assert_eq!(again.origin, kept.origin, "{form}");
        }
    }

    #[test]
    fn integer_severity_and_missing_version_are_accepted() {
        let incidents = parse_value(guardduty(finding())).expect("parses");
        assert_eq!(incidents.len(), 1);
    }

    #[test]
    fn oversized_payloads_are_refused_before_parsing() {
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert!(matches!(parse_payload(&big), Err(Error::Refused { .. })));
    }

    #[test]
    fn deeply_nested_input_is_refused_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_payload(deep.as_bytes()).is_err());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[a-zA-Z0-9 :_\\-\\.\\{\\}\"]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("ALARM"),
                Just("Instance"),
                Just("i-0abc1234def567890"),
                Just("GuardDuty Finding"),
                Just("CloudWatch Alarm State Change"),
                Just("AWS API Call via CloudTrail"),
                Just("AuthorizeSecurityGroupIngress")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            let keys = prop_oneof![
                Just("detail-type".to_owned()),
                Just("detail".to_owned()),
                Just("alarmData".to_owned()),
                Just("Records".to_owned()),
                Just("Sns".to_owned()),
                Just("Message".to_owned()),
                Just("severity".to_owned()),
                Just("resource".to_owned()),
                Just("resourceType".to_owned()),
                Just("state".to_owned()),
                Just("value".to_owned()),
                Just("eventName".to_owned()),
                "[a-zA-Z]{1,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every sample event with one subtree replaced by arbitrary JSON: deep, realistic mutations.
    fn mutated_sample() -> impl Strategy<Value = Value> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
        let mut samples = Vec::new();
        for kind in ["guardduty", "alarm", "cloudtrail"] {
            let entries = std::fs::read_dir(format!("{dir}/{kind}")).expect("events/ exists").flatten();
            for entry in entries.filter(|e| e.path().extension().is_some_and(|x| x == "json")) {
                let text = std::fs::read_to_string(entry.path()).expect("readable");
                samples.push(serde_json::from_str::<Value>(&text).expect("json"));
            }
        }
        (prop::sample::select(samples), any::<prop::sample::Index>(), arbitrary_json()).prop_map(
            |(mut doc, index, replacement)| {
                let mut pointers = Vec::new();
                collect_pointers(&doc, String::new(), &mut pointers);
                let target = index.get(&pointers).clone();
                if let Some(slot) = doc.pointer_mut(&target) {
                    *slot = replacement;
                }
                doc
            },
        )
    }

    fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                collect_pointers(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out)
            }),
            Value::Array(list) => {
                list.iter().enumerate().for_each(|(n, v)| collect_pointers(v, format!("{at}/{n}"), out))
            }
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_payload(&bytes);
        }

        #[test]
        fn arbitrary_json_never_panics_parse_or_decide(value in arbitrary_json()) {
            if let Ok(incidents) = parse_value(value) {
                for incident in &incidents {
                    let _ = crate::policy::decide(incident, &crate::policy::Policy::default());
                }
            }
        }

        /// The bytes of a GuardDuty or CloudTrail event are read without a tree first: the same
        /// incidents, or a refusal naming the same field, as reading its tree (serde_json words some
        /// refusals differently for the two, e.g. "trailing characters" for "invalid length").
        #[test]
        fn reading_the_bytes_and_reading_the_tree_agree(doc in mutated_sample()) {
            let bytes = serde_json::to_vec(&doc).expect("serialises");
            let tree: Value = serde_json::from_slice(&bytes).expect("parses back");
            let refused_field = |e: Error| match e {
                Error::Refused { field, .. } => field,
                other => panic!("not a refusal: {other}"),
            };
            prop_assert_eq!(parse_payload(&bytes).map_err(refused_field), parse_value(tree).map_err(refused_field));
        }

        #[test]
        fn mutated_real_events_never_panic_parse_or_decide(doc in mutated_sample()) {
            let bytes = serde_json::to_vec(&doc).expect("serialises");
            if let Ok(incidents) = parse_payload(&bytes) {
                for incident in &incidents {
                    let plan = crate::policy::decide(incident, &crate::policy::Policy::default());
                    prop_assert!(!plan.reasons.is_empty());
                }
            }
        }
    }
}
