//! Console deep links, built only from identifiers that were validated first, so that event text can
//! never become a link to somewhere else.

use crate::incident::{Incident, IncidentKind, Region};

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `8-4-4-4-12` hex: CloudTrail event ids.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5 && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(len, part)| is_hex(part, *len))
}

/// Percent-encode everything but unreserved characters (alarm names are free text).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn console(region: &Region, service: &str, fragment: &str) -> String {
    format!("https://{region}.console.aws.amazon.com/{service}/home?region={region}#{fragment}")
}

/// (label, URL) pairs for the resources an incident concerns; none when the region is unknown.
pub fn links(incident: &Incident) -> Vec<(&'static str, String)> {
    let Some(region) = &incident.origin.region else { return Vec::new() };
    let mut links = Vec::new();
    match &incident.kind {
        IncidentKind::Guardduty(f) => {
            if let Some(id) = &f.instance_id {
                links.push(("instance", console(region, "ec2", &format!("InstanceDetails:instanceId={id}"))));
            }
            if is_hex(&f.finding_id, 32) {
                links.push((
                    "finding",
                    console(region, "guardduty", &format!("/findings?macros=current&fId={}", f.finding_id)),
                ));
            }
        }
        IncidentKind::Alarm(a) => {
            links.push(("alarm", console(region, "cloudwatch", &format!("alarmsV2:alarm/{}", encode(&a.alarm_name)))));
            if let [one] = a.instance_dimensions().as_slice() {
                if let Some(id) = crate::incident::InstanceId::parse(one) {
                    links.push(("instance", console(region, "ec2", &format!("InstanceDetails:instanceId={id}"))));
                }
            }
        }
        IncidentKind::Cloudtrail(e) => {
            if let Some(id) = e.event_id.as_deref().filter(|id| is_uuid(id)) {
                links.push(("event", console(region, "cloudtrailv2", &format!("/events/{id}"))));
            }
            if let Some(group) = e
                .security_group_id
                .as_deref()
                .filter(|g| g.strip_prefix("sg-").is_some_and(|h| is_hex(h, 8) || is_hex(h, 17)))
            {
                links.push(("security group", console(region, "ec2", &format!("SecurityGroup:groupId={group}"))));
            }
        }
        IncidentKind::SecurityHub(f) => {
            if let Some(g) = f.guardduty.as_ref().filter(|g| is_hex(&g.finding_id, 32)) {
                links.push((
                    "finding",
                    console(region, "guardduty", &format!("/findings?macros=current&fId={}", g.finding_id)),
                ));
            }
        }
        IncidentKind::Recognised { .. } => {}
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_names_are_percent_encoded_and_event_ids_validated() {
        assert_eq!(encode("idle cpu/<x>"), "idle%20cpu%2F%3Cx%3E");
        assert!(is_uuid("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"));
        assert!(!is_uuid("6ac2f08a-c9fe-343l-…"));
        assert!(!is_uuid("https://evil.example"));
    }
}
