//! Ingress ranges one security group received from separate calls, remembered for a window so that
//! the Internet opened in pieces (`0.0.0.0/2` now, the other three quarters later) is judged as a
//! whole. Each remembered range carries its own expiry; the table's TTL removes the item once the
//! newest has passed.

use crate::incident::{CloudTrailEvent, IngressPermission};
use serde_json::{json, Value};

/// The ranges of `event` worth remembering: a successful ingress call on a group named by id, and
/// only its ranges on ports outside `allowed` (the others can never add up to anything).
pub fn worth_remembering(event: &CloudTrailEvent, allowed: &[u16]) -> Vec<IngressPermission> {
    let named = event.security_group_id.as_deref().is_some_and(|g| g.starts_with("sg-"));
    if !named || event.error_code.is_some() {
        return Vec::new();
    }
    event.ingress.iter().filter(|p| p.exceeds(allowed) && p.block().is_some()).cloned().collect()
}

/// One remembered range: `[expires_at, protocol, from, to, cidr, rule id]` as JSON, so that no value
/// of the event can be mistaken for a separator.
pub fn entry(p: &IngressPermission, expires_at: u64) -> String {
    json!([expires_at, p.protocol, p.from_port, p.to_port, p.cidr, p.rule_id]).to_string()
}

fn parse(entry: &str) -> Option<(u64, IngressPermission)> {
    let v: Value = serde_json::from_str(entry).ok()?;
    let port = |i: usize| v.get(i).and_then(Value::as_i64).and_then(|p| i32::try_from(p).ok());
    let text = |i: usize| v.get(i).and_then(Value::as_str).map(str::to_owned);
    Some((
        v.get(0)?.as_u64()?,
        IngressPermission {
            protocol: text(1)?,
            from_port: port(2),
            to_port: port(3),
            cidr: text(4)?,
            rule_id: text(5),
        },
    ))
}

/// The ranges still within the window at `now`, each once (the latest rule id kept).
pub fn live(entries: &[String], now: u64) -> Vec<IngressPermission> {
    let mut live: Vec<IngressPermission> = Vec::new();
    for (_, p) in entries.iter().filter_map(|e| parse(e)).filter(|(expires, _)| *expires > now) {
        match live.iter_mut().find(|q| q.same_range(&p)) {
            Some(q) => q.rule_id = p.rule_id.or(q.rule_id.take()),
            None => live.push(p),
        }
    }
    live
}

/// Entries past their expiry (or unreadable): worth deleting once they pile up.
pub fn stale(entries: &[String], now: u64) -> Vec<String> {
    entries.iter().filter(|e| parse(e).is_none_or(|(expires, _)| expires <= now)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(cidr: &str, rule: Option<&str>) -> IngressPermission {
        IngressPermission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidr: cidr.into(),
            rule_id: rule.map(str::to_owned),
        }
    }

    #[test]
    fn a_remembered_range_lives_until_its_expiry_and_counts_once() {
        let entries = vec![
            entry(&ssh("0.0.0.0/2", None), 100),
            entry(&ssh("0.0.0.0/2", Some("sgr-1")), 200),
            entry(&ssh("64.0.0.0/2", None), 50),
            "not an entry".to_owned(),
        ];
        assert_eq!(live(&entries, 60), vec![ssh("0.0.0.0/2", Some("sgr-1"))]);
        assert_eq!(live(&entries, 10), vec![ssh("0.0.0.0/2", Some("sgr-1")), ssh("64.0.0.0/2", None)]);
        assert!(live(&entries, 200).is_empty());
        assert_eq!(stale(&entries, 60), vec![entries[2].clone(), entries[3].clone()]);
    }

    #[test]
    fn an_entry_is_json_so_no_value_can_forge_another_field() {
        let odd = IngressPermission { protocol: "tcp\",1,2,\"0.0.0.0/0".into(), ..ssh("10.0.0.0/8", None) };
        assert_eq!(live(&[entry(&odd, 100)], 0), vec![odd]);
    }
}
