//! The state table's key space: every partition key Firebreak writes, in one place. The prefixes are
//! persisted (items written by one release are read by the next, and the table's resource policy names
//! them): they are a contract, pinned in the tests below.

/// The claim under which an incident runs, with its journal and its record: `claim#<incident key>`.
pub const CLAIM: &str = "claim#";
/// A request for approval: `approval#<incident key>`.
pub const APPROVAL: &str = "approval#";
/// The incident key under which an approved plan runs, beside the request's own claim.
pub const APPROVED: &str = "approved#";
/// The incident key of a dry run's claims and requests, kept apart from real ones so that switching
/// dry run off later still acts.
pub const DRY_RUN: &str = "dry-run#";
/// The blast-radius cap's counter per account and window: `cap#<account>#<window>`.
pub const CAP: &str = "cap#";
/// The circuit's opening per account and window: `circuit#<account>#<window>`.
pub const CIRCUIT: &str = "circuit#";
/// A containment the cap held back, queued for the sweep (`crate::held`): `held#<incident key>`.
pub const HELD: &str = "held#";
/// The count of one kind of notification in one window (`crate::repeats`):
/// `tally#<account>#<window>#<kind>#<what>#<who>`.
pub const TALLY: &str = "tally#";
/// A containment group Firebreak created: `group#<account>#<region>#<vpc>#<kind>`; and its DNS Firewall
/// there (`group#<account>#<region>#dns-firewall`) and the firewall's association with a VPC
/// (`group#<account>#<region>#<vpc>#dns-firewall`): the network resources Firebreak trusts only from here.
pub const GROUP: &str = "group#";
/// The suffix of the hourly window of blocked domains in the cap's keys: `cap#<account>#<hour>#domains`.
pub const DOMAINS_WINDOW: &str = "#domains";
/// An instance's groups before isolation, one attribute per interface: `quarantine#<instance>`.
pub const QUARANTINE: &str = "quarantine#";
/// The attribute prefix of one interface's original groups in a quarantine item: `eni#<interface>`.
pub const ORIGINAL_GROUPS_ATTRIBUTE: &str = "eni#";
/// The string set of the incidents that recorded into a quarantine item: one that recorded it and
/// was then held back deletes it only while it is the sole owner.
pub const QUARANTINE_OWNERS_ATTRIBUTE: &str = "recorded_by";
/// The sweep's queue: the attribute, and the sparse index keyed on it, that hold exactly the items the
/// schedule's sweep reads (requests for approval, held-back containments, counts of repeats), so that the
/// sweep queries them instead of scanning the table.
pub const QUEUE_ATTRIBUTE: &str = "queue";
pub const QUEUE_INDEX: &str = "queue";

/// Which of the sweep's queues an item is in: the value of [`QUEUE_ATTRIBUTE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Approvals,
    Held,
    Tallies,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::Approvals, Queue::Held, Queue::Tallies];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Approvals => "approval",
            Queue::Held => "held",
            Queue::Tallies => "tally",
        }
    }
}

/// The attribute that carries a record's seal (`crate::seal`), and one interface's in a quarantine
/// item: `seal#<interface>`.
pub const SEAL_ATTRIBUTE: &str = "seal";

/// Where a quarantine or credential record belongs, `<account>#<region>` (sealed beside it in
/// `seal#place`): release acts there, and forgets a record only when EC2 there says the instance is gone.
pub const PLACE_ATTRIBUTE: &str = "place";
pub const PLACE_SEAL_ATTRIBUTE: &str = "seal#place";

/// What a credential revocation changed: `credentials#<instance>`.
pub const CREDENTIALS: &str = "credentials#";

/// The instances whose credentials are denied on one role, by the role's unique id (names repeat across
/// accounts, ids do not): `denied#<role id>`. Kept without expiry: the role's policy is written from it.
pub const DENIALS: &str = "denied#";
/// The attribute of a denial set's entries, `<region>/<instance>[/<seal>]`, and of its version.
pub const DENIED_INSTANCES_ATTRIBUTE: &str = "instances";
pub const DENIALS_VERSION_ATTRIBUTE: &str = "version";
/// When a denial set was last checked against EC2 (epoch seconds).
pub const DENIALS_PRUNED_ATTRIBUTE: &str = "pruned_at";

/// The ingress ranges recent calls added to one security group, judged together with the next call's:
/// `ingress#<account>#<region>#<group>`.
pub const INGRESS: &str = "ingress#";

/// The one item each function writes during init, to open its connection to the table.
/// Firebreak's malware scan of an instance: the incident it was started for (sealed).
pub const SCAN: &str = "scan#";
pub const SCAN_INCIDENT_ATTRIBUTE: &str = "incident";
/// What happened to an incident after its run (a string set on its claim item).
pub const LATER_ATTRIBUTE: &str = "later";
pub const WARM_UP: &str = "warm-up";

/// Every incident key starts so, then names its kind: `incident#<kind>#…` (`policy::incident_key`).
pub const INCIDENT: &str = "incident#";

/// The kind of incident a key (of a request, a claim, dry run or not) names: which function runs it.
pub fn incident_kind(incident_key: &str) -> Option<crate::incident::Kind> {
    use crate::incident::Kind;
    let rest = without_dry_run(incident_key).strip_prefix(INCIDENT)?;
    let kind = rest.split('#').next()?;
    [Kind::Guardduty, Kind::Alarm, Kind::Cloudtrail].into_iter().find(|k| k.as_str() == kind)
}

pub fn claim(incident_key: &str) -> String {
    format!("{CLAIM}{incident_key}")
}

pub fn approval(incident_key: &str) -> String {
    format!("{APPROVAL}{incident_key}")
}

pub fn approved(incident_key: &str) -> String {
    format!("{APPROVED}{incident_key}")
}

/// The claim key of the run of an approved request (`approval#<request key>`): the approved key, kept
/// apart under the dry-run prefix as the request itself is.
pub fn approved_run(request_key: &str) -> String {
    match request_key.strip_prefix(DRY_RUN) {
        Some(key) => dry_run(&approved(key)),
        None => approved(request_key),
    }
}

pub fn dry_run(incident_key: &str) -> String {
    format!("{DRY_RUN}{incident_key}")
}

/// The incident key a request or claim was made for, without the dry-run prefix.
pub fn without_dry_run(incident_key: &str) -> &str {
    incident_key.strip_prefix(DRY_RUN).unwrap_or(incident_key)
}

pub fn cap(account: &str, window: &str) -> String {
    format!("{CAP}{account}#{window}")
}

pub fn circuit(account: &str, window: &str) -> String {
    format!("{CIRCUIT}{account}#{window}")
}

pub fn held(incident_key: &str) -> String {
    format!("{HELD}{incident_key}")
}

pub fn tally(repeat: &crate::repeats::Repeat, window: &str) -> String {
    format!("{TALLY}{}#{window}#{}#{}#{}", repeat.account, repeat.kind.as_str(), repeat.what, repeat.who)
}

/// `scope` is `<account>#<region>`.
pub fn group(scope: &str, vpc: &str, kind: &str) -> String {
    format!("{GROUP}{scope}#{vpc}#{kind}")
}

/// `scope` is `<account>#<region>`.
pub fn dns_firewall(scope: &str) -> String {
    format!("{GROUP}{scope}#dns-firewall")
}

pub fn dns_association(scope: &str, vpc: &str) -> String {
    group(scope, vpc, "dns-firewall")
}

pub fn quarantine(instance: &str) -> String {
    format!("{QUARANTINE}{instance}")
}

pub fn original_groups_attribute(interface: &str) -> String {
    format!("{ORIGINAL_GROUPS_ATTRIBUTE}{interface}")
}

pub fn interface_seal_attribute(interface: &str) -> String {
    format!("{SEAL_ATTRIBUTE}#{interface}")
}

pub fn credentials(instance: &str) -> String {
    format!("{CREDENTIALS}{instance}")
}

pub fn denials(role_id: &str) -> String {
    format!("{DENIALS}{role_id}")
}

/// The incident of a GuardDuty finding: its account, region and finding id.
pub fn guardduty_incident(account: &str, region: &str, finding_id: &str) -> String {
    format!("{INCIDENT}guardduty#{account}#{region}#{finding_id}")
}

pub fn scan(scan_id: &str) -> String {
    format!("{SCAN}{scan_id}")
}

pub fn ingress(account: &str, region: &str, group_id: &str) -> String {
    format!("{INGRESS}{account}#{region}#{group_id}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sweeps_queues_are_persisted_names() {
        let names: Vec<&str> = Queue::ALL.iter().map(|q| q.as_str()).collect();
        assert_eq!(names, ["approval", "held", "tally"]);
        assert_eq!((QUEUE_ATTRIBUTE, QUEUE_INDEX), ("queue", "queue"));
    }

    use super::*;

    #[test]
    fn the_persisted_key_prefixes_never_change() {
        assert_eq!(claim("incident#k"), "claim#incident#k");
        assert_eq!(approval("incident#k"), "approval#incident#k");
        assert_eq!(approved("incident#k"), "approved#incident#k");
        assert_eq!(dry_run("incident#k"), "dry-run#incident#k");
        assert_eq!(approved_run("incident#k"), "approved#incident#k");
        assert_eq!(approved_run("dry-run#incident#k"), "dry-run#approved#incident#k");
        assert_eq!(without_dry_run("dry-run#incident#k"), "incident#k");
        assert_eq!(without_dry_run("incident#k"), "incident#k");
        assert_eq!(cap("123456789012", "2026-12-03T08"), "cap#123456789012#2026-12-03T08");
        assert_eq!(circuit("123456789012", "2026-12-03T08"), "circuit#123456789012#2026-12-03T08");
        assert_eq!(held("incident#guardduty#k"), "held#incident#guardduty#k");
        let repeat = crate::repeats::Repeat {
            kind: crate::incident::Kind::Cloudtrail,
            account: "123456789012".into(),
            what: "CT-LOG-001".into(),
            who: "arn:aws:iam::123456789012:role/r".into(),
        };
        assert_eq!(
            tally(&repeat, "2026-12-03T08"),
            "tally#123456789012#2026-12-03T08#cloudtrail#CT-LOG-001#arn:aws:iam::123456789012:role/r"
        );
        assert_eq!(
            group("123456789012#us-east-1", "vpc-1", "isolation"),
            "group#123456789012#us-east-1#vpc-1#isolation"
        );
        assert_eq!(quarantine("i-1"), "quarantine#i-1");
        assert_eq!(dns_firewall("123456789012#us-east-1"), "group#123456789012#us-east-1#dns-firewall");
        assert_eq!(
            dns_association("123456789012#us-east-1", "vpc-1"),
            "group#123456789012#us-east-1#vpc-1#dns-firewall"
        );
        assert_eq!(DOMAINS_WINDOW, "#domains");
        assert_eq!(original_groups_attribute("eni-1"), "eni#eni-1");
        assert_eq!(QUARANTINE_OWNERS_ATTRIBUTE, "recorded_by");
        assert_eq!(credentials("i-1"), "credentials#i-1");
        assert_eq!(ingress("123456789012", "us-east-1", "sg-1"), "ingress#123456789012#us-east-1#sg-1");
        assert_eq!(denials("AROAEXAMPLE"), "denied#AROAEXAMPLE");
        assert_eq!(
            (DENIED_INSTANCES_ATTRIBUTE, DENIALS_VERSION_ATTRIBUTE, DENIALS_PRUNED_ATTRIBUTE),
            ("instances", "version", "pruned_at")
        );
        assert_eq!(WARM_UP, "warm-up");
        use crate::incident::Kind;
        assert_eq!(incident_kind("incident#guardduty#123456789012#us-east-1#f"), Some(Kind::Guardduty));
        assert_eq!(incident_kind("dry-run#incident#alarm#arn:aws:cloudwatch:x#t"), Some(Kind::Alarm));
        assert_eq!(incident_kind("incident#release#x"), None);
        assert_eq!(incident_kind("claim#incident#alarm#x"), None);
        assert_eq!((SEAL_ATTRIBUTE, interface_seal_attribute("eni-1").as_str()), ("seal", "seal#eni-1"));
        assert_eq!((PLACE_ATTRIBUTE, PLACE_SEAL_ATTRIBUTE), ("place", "seal#place"));
    }
}
