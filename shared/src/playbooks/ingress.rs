//! Before a CloudTrail ingress call is judged: the ranges it adds to its group are remembered for the
//! window, and what earlier calls added is read back in the same write, so that the Internet opened
//! in pieces is judged whole (`policy/cloudtrail.rs`). Only a fact is recorded, never an action: a
//! redelivery adds nothing new, and a dry run remembers what it saw.

use crate::incident::EarlierIngress;
use crate::incident::{Incident, IncidentKind};
use crate::ingress_window::{entry, live, stale, worth_remembering};
use crate::plan::Plan;
use crate::policy::Policy;
use crate::ports::StateStore;

/// Expired entries are deleted once this many pile up in one group's item (each write would
/// otherwise grow it for as long as the group keeps receiving calls).
const STALE_PILE: usize = 32;

/// The plan for `incident` as a responder makes it: with what the state table remembers of the
/// incident's group (the ranges earlier calls added) when that can change the judgment.
pub async fn decide_with_state<S: StateStore>(state: &S, policy: &Policy, incident: Incident, now: u64) -> Plan {
    crate::policy::decide(&with_earlier_ingress(state, policy, incident, now).await, policy)
}

/// `incident` with the ranges earlier calls added to its group within the window, when it is an
/// ingress call whose ranges could add up to the world; otherwise unchanged. A table that cannot
/// be asked leaves the call judged alone, and the plan says so.
async fn with_earlier_ingress<S: StateStore>(state: &S, policy: &Policy, mut incident: Incident, now: u64) -> Incident {
    let window = policy.ingress_window_seconds;
    let (Some(account), Some(region)) = (incident.origin.account.clone(), incident.origin.region.clone()) else {
        return incident;
    };
    let IncidentKind::Cloudtrail(event) = &mut incident.kind else {
        return incident;
    };
    let ranges = worth_remembering(event, &policy.allowed_public_ports);
    let Some(group) = event.security_group_id.clone().filter(|_| window > 0 && !ranges.is_empty()) else {
        return incident;
    };
    let key = crate::state_keys::ingress(account.as_str(), region.as_str(), &group);
    let expires_at = now + window;
    let entries: Vec<String> = ranges.iter().map(|p| entry(p, expires_at)).collect();
    event.earlier_ingress = match state.remember_ingress(&key, &entries, expires_at).await {
        Ok(all) => {
            let stale = stale(&all, now);
            if stale.len() >= STALE_PILE {
                if let Err(e) = state.forget_ingress(&key, &stale).await {
                    tracing::warn!(target: "firebreak::decision", key, error = %e, "expired ingress ranges not deleted; the next call retries");
                }
            }
            EarlierIngress::Read { permissions: live(&all, now), window_seconds: window }
        }
        Err(e) => EarlierIngress::Unavailable { why: e.to_string() },
    };
    incident
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_state::ProcessLocalState;
    use crate::plan::Decision;
    use serde_json::{json, Value};

    /// SSH opened on `group` from `cidrs`, as the sample CloudTrail event records it.
    fn call(group: &str, cidrs: &[&str]) -> Incident {
        let path = format!("{}/../events/cloudtrail/sg-open-ssh-to-world.json", env!("CARGO_MANIFEST_DIR"));
        let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        let ranges: Vec<Value> = cidrs.iter().map(|c| json!({"cidrIp": c})).collect();
        doc["detail"]["requestParameters"]["groupId"] = Value::from(group);
        doc["detail"]["requestParameters"]["ipPermissions"]["items"][0]["ipRanges"]["items"] = Value::from(ranges);
        doc["detail"]["responseElements"] = json!({"_return": true});
        crate::events::parse_value(doc).expect("parses").remove(0)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_is_judged_with_the_ranges_earlier_calls_added_to_its_group_within_the_window_only() {
        let policy = Policy::default();
        let day = policy.ingress_window_seconds;
        let (half, other_half) = (["0.0.0.0/2", "64.0.0.0/2"], ["128.0.0.0/2", "192.0.0.0/2"]);
        let state = ProcessLocalState::default();
        assert_eq!(decide_with_state(&state, &policy, call("sg-1", &half), 1_000).await.decision, Decision::Ignore);
        let other_group = decide_with_state(&state, &policy, call("sg-2", &other_half), 1_001).await;
        assert_eq!(other_group.decision, Decision::Ignore, "another group's ranges are not this one's");
        let within = decide_with_state(&state, &policy, call("sg-1", &other_half), 1_000 + day - 1).await;
        assert_eq!(within.decision, Decision::Revoke, "{:?}", within.reasons);

        let state = ProcessLocalState::default();
        decide_with_state(&state, &policy, call("sg-1", &half), 1_000).await;
        let after = decide_with_state(&state, &policy, call("sg-1", &other_half), 1_000 + day).await;
        assert_eq!(after.decision, Decision::Ignore, "the window has passed: {:?}", after.reasons);

        let off = Policy { ingress_window_seconds: 0, ..Policy::default() };
        let state = ProcessLocalState::default();
        decide_with_state(&state, &off, call("sg-1", &half), 1_000).await;
        assert_eq!(decide_with_state(&state, &off, call("sg-1", &other_half), 1_001).await.decision, Decision::Ignore);
    }
}
