//! Repeated notifications of one kind, told once per window with the count. Whoever can make a call
//! that CloudTrail records (a denied `StopLogging` in a loop needs no permission at all) or import a
//! finding into Security Hub could otherwise bury the one notification that matters under thousands: the
//! first of a kind in an hour is told at once, the rest are counted, and the sweep tells the count once
//! the hour is over. A kind is a CloudTrail rule and the principal behind the call (an assumed role's
//! role, not its session: a new session name must not start a new count), or a product and severity of
//! Security Hub findings, per account. Only plans that notify and do nothing else are counted, and never
//! a CRITICAL one: each of those is told on its own, however many there are. Pure.

use crate::incident::{IncidentKind, Kind};
use crate::plan::{Decision, Plan};

/// What repeats: in `account`, the notifications of `what` by `who`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repeat {
    pub kind: Kind,
    pub account: String,
    pub what: String,
    pub who: String,
}

/// A window's count of one repeat, as kept (`tally#…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub repeat: Repeat,
    /// The UTC hour (`2026-12-03T08`) it counts.
    pub window: String,
    pub count: u64,
    /// The first notification's summary, for the count's notification.
    pub first: String,
}

impl Repeat {
    /// The repeat a plan's notification belongs to, when it is counted: plans that only notify.
    pub fn of(plan: &Plan) -> Option<Self> {
        let critical = plan.severity == crate::incident::SeverityLabel::Critical;
        if plan.decision != Decision::Notify || plan.acting_steps().next().is_some() || critical {
            return None;
        }
        let account = plan.incident.origin.account.as_ref().map_or("unknown", |a| a.as_str()).to_owned();
        match &plan.incident.kind {
            IncidentKind::Cloudtrail(e) => Some(Self {
                kind: Kind::Cloudtrail,
                account,
                what: plan.rule.unwrap_or(e.event_name.as_str()).to_owned(),
                who: e.issuer_arn.clone().or_else(|| e.identity_arn.clone()).unwrap_or_else(|| "unknown".into()),
            }),
            IncidentKind::SecurityHub(f) if f.guardduty.is_none() => Some(Self {
                kind: Kind::SecurityHub,
                account,
                what: f.product.clone(),
                who: f.severity_label.to_ascii_uppercase(),
            }),
            _ => None,
        }
    }

    /// In words, for the notifications.
    pub fn describe(&self) -> String {
        match self.kind {
            Kind::SecurityHub => format!("{} findings of severity {}", self.what, self.who),
            _ => format!("{} by {}", self.what, self.who),
        }
    }
}

/// The reason the first notification of a window carries.
pub fn first_told(repeat: &Repeat, window: &str) -> String {
    format!(
        "the first of its kind ({}) in account {} during {window}:00 UTC: further ones this hour are counted and told \
         together once the hour is over",
        repeat.describe(),
        repeat.account
    )
}

/// Why a repeated notification is not sent on its own.
pub fn counted(repeat: &Repeat, window: &str, count: u64) -> String {
    format!(
        "counted, not sent: the {count}th {} in account {} during {window}:00 UTC; the count is told once the hour is \
         over",
        repeat.describe(),
        repeat.account
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(path: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Plan {
        let path = format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"));
        let mut event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("json");
        edit(&mut event);
        crate::decide(&crate::parse_value(event).expect("parses").remove(0), &crate::Policy::default())
    }

    #[test]
    fn a_notification_that_only_notifies_is_counted_by_rule_and_principal_or_product_and_severity() {
        let inspector = plan_of("securityhub/asff-inspector-ec2-cve.json", |_| {});
        let repeat = Repeat::of(&inspector).expect("counted");
        assert_eq!((repeat.kind, repeat.what.as_str()), (Kind::SecurityHub, "Inspector"));
        let guardduty = plan_of("securityhub/asff-guardduty-ec2-backdoor.json", |_| {});
        assert_eq!(Repeat::of(&guardduty), None, "GuardDuty's own finding is decided as GuardDuty's");
        let contained = plan_of("guardduty/ec2-backdoor-high-severity.json", |_| {});
        assert_eq!(Repeat::of(&contained), None, "a plan that acts is never counted");
        let critical = plan_of("securityhub/asff-inspector-ec2-cve.json", |e| {
            e["detail"]["findings"][0]["Severity"]["Label"] = serde_json::json!("CRITICAL");
        });
        assert_eq!(critical.severity, crate::incident::SeverityLabel::Critical);
        assert_eq!(Repeat::of(&critical), None, "a critical notification is always told on its own");
    }

    #[test]
    fn a_new_session_of_one_role_counts_as_the_same_principal() {
        let session = |name: &str| {
            plan_of("cloudtrail/sg-open-ssh-to-world.json", |e| {
                e["detail"]["eventName"] = serde_json::json!("StopLogging");
                e["detail"]["eventSource"] = serde_json::json!("cloudtrail.amazonaws.com");
                e["detail"]["errorCode"] = serde_json::json!("AccessDenied");
                e["detail"]["userIdentity"] = serde_json::json!({
                    "type": "AssumedRole",
                    "arn": format!("arn:aws:sts::123456789012:assumed-role/intruder/{name}"),
                    "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/intruder"}}
                });
            })
        };
        let (a, b) = (session("one"), session("two"));
        let (a, b) = (Repeat::of(&a).expect("counted"), Repeat::of(&b).expect("counted"));
        assert_eq!(a, b);
        assert_eq!(a.who, "arn:aws:iam::123456789012:role/intruder");
    }
}
