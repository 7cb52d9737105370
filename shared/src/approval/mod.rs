//! Human approval: a plan whose decision is `await_approval` is recorded, not run; a person approves or
//! denies it with a signed, single-use, expiring link (or `firebreak approve|deny KEY`), and an approved
//! plan runs through the same executor as an automatic one.
//!
//! This module, `page` and `http` are the pure half (tokens, the stored request, the pages, the shape of
//! an invocation); the flow that answers, expires and serves through the ports is beside the executor
//! (`playbooks`), above this.

pub mod http;
pub mod page;

use crate::clock::utc;
use crate::error::{Error, Result};
use crate::plan::Plan;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::time::Duration;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The one field of the payload with which the approval function asks the GuardDuty responder to run an
/// approved containment: `{"firebreak-approved": "<incident key>"}`. Whoever sends it, the responder acts
/// only on a request its state table holds as approved.
pub const APPROVED_PAYLOAD: &str = "firebreak-approved";
/// Signed tokens say which scheme they follow, so that a later one can refuse an older.
const TOKEN_VERSION: &str = "v1";
/// The shortest key accepted: the template generates 64 characters.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a person answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "approve" => Some(Self::Approve),
            "deny" => Some(Self::Deny),
            _ => None,
        }
    }

    /// The status a request has once this verdict is taken.
    pub fn status(self) -> ApprovalStatus {
        match self {
            Self::Approve => ApprovalStatus::Approved,
            Self::Deny => ApprovalStatus::Denied,
        }
    }
}

/// Where a request stands. Persisted in the state table: the names are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    Expired,
}

impl ApprovalStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Approved, Self::Denied, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What the sweep notes on an approved request whose run did not finish, each once, so that a person
/// is told once however often the sweep meets it. Persisted as attribute names: a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestNote {
    /// The approved run could not be started (the invoke failed); the sweep keeps trying.
    Undelivered,
    /// The approved run did not complete within one approval TTL of the approval: given up.
    Abandoned,
}

impl RequestNote {
    pub fn attribute(self) -> &'static str {
        match self {
            Self::Undelivered => "undelivered",
            Self::Abandoned => "abandoned",
        }
    }
}

/// How an answer came. Persisted in the state table: the names are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A link of the notification, through the approval function's URL.
    Link,
    /// `firebreak approve|deny`.
    Cli,
    /// Nobody answered before the deadline: the sweep closed it (or approved it, where
    /// `FIREBREAK_APPROVAL_ON_EXPIRY=contain`).
    Deadline,
    /// GuardDuty raised the finding past the automatic threshold while it waited: the policy itself
    /// decides, as for any finding at that severity.
    Policy,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Cli => "cli",
            Self::Deadline => "deadline",
            Self::Policy => "policy",
        }
    }
}

/// Who answered, as far as the request shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    pub via: Via,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The operating-system user of a `firebreak approve|deny` run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Epoch seconds.
    pub at: u64,
}

impl Approver {
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("via {}", self.via.as_str())];
        if let Some(user) = &self.user {
            parts.push(format!("user {user}"));
        }
        if let Some(ip) = &self.source_ip {
            parts.push(format!("from {ip}"));
        }
        if let Some(agent) = &self.user_agent {
            parts.push(format!("user agent {agent:?}"));
        }
        parts.push(format!("at {}", utc(self.at)));
        parts.join(", ")
    }
}

/// One request for approval, as stored: what would be done, to which instances, until when, and the
/// event it came from (decided again when approved, so that the run is exactly the automatic one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub key: String,
    pub status: ApprovalStatus,
    pub requested_at: u64,
    /// Epoch seconds after which neither link is honoured.
    pub deadline: u64,
    pub summary: String,
    pub account: Option<String>,
    pub region: Option<String>,
    /// Why approval is required, and the rest of the plan's reasons.
    pub reasons: Vec<String>,
    /// One line per step that approval would run, naming its instance.
    pub actions: Vec<String>,
    /// The EventBridge event the incident was parsed from.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<Approver>,
}

impl ApprovalRequest {
    /// The request for `plan` under `key` (its claim's), parsed from `event`, open until `now + ttl`.
    pub fn of(plan: &Plan, key: &str, event: String, now: u64, ttl: Duration) -> Self {
        Self {
            key: key.to_owned(),
            status: ApprovalStatus::Pending,
            requested_at: now,
            deadline: now + ttl.as_secs(),
            summary: plan.summary.clone(),
            account: plan.incident.origin.account.as_ref().map(ToString::to_string),
            region: plan.incident.origin.region.as_ref().map(ToString::to_string),
            reasons: plan.reasons.clone(),
            actions: planned_lines(plan),
            event,
            decided: None,
        }
    }

    /// Whether it asks about an idle stop (the alarm responder's request) rather than a finding.
    pub fn is_idle_stop(&self) -> bool {
        crate::state_keys::incident_kind(&self.key) == Some(crate::incident::Kind::Alarm)
    }

    /// Whether its record must carry a seal. An idle stop's is written by the alarm responder, which
    /// holds no state key: only that role may write it (`dynamodb:LeadingKeys`), and its run is
    /// confirmed with CloudWatch again, whoever wrote it.
    pub fn is_sealed(&self) -> bool {
        !self.is_idle_stop()
    }

    /// The plan of the request as it would run today: the stored event decided again with today's
    /// policy, which must still contain (or ask for approval of) the same incident. Never the plan of
    /// another incident, never more than a containment.
    pub fn plan(&self, policy: &crate::Policy) -> Result<Plan> {
        let refuse = |why: String| Error::refused("approval", why);
        let mut incidents = crate::parse_payload(self.event.as_bytes())
            .map_err(|e| refuse(format!("the stored event of {} no longer parses: {e}", self.key)))?;
        if incidents.len() != 1 {
            return Err(refuse(format!("the stored event of {} holds {} incidents", self.key, incidents.len())));
        }
        let plan = crate::decide(&incidents.remove(0), policy);
        // A dry run's request is kept under its own key (`dry-run#…`), like its claim.
        let key = crate::state_keys::without_dry_run(&self.key);
        if plan.incident_key != key {
            return Err(refuse(format!("the stored event is incident {}, not {key}", plan.incident_key)));
        }
        match plan.decision {
            crate::plan::Decision::AwaitApproval
            | crate::plan::Decision::Contain
            | crate::plan::Decision::Revoke
            | crate::plan::Decision::StopIdle => Ok(plan),
            other => Err(refuse(format!(
                "today's policy decides {} for this incident, not a containment, revocation or stop: nothing to \
                 approve",
                other.as_str()
            ))),
        }
    }
}

/// Why a later delivery of the finding of `request` asks a person again, if it does, naming what
/// changed between the finding it asked about (`before`) and GuardDuty's copy now (`now`). A denial
/// holds for the update of the finding it was about, and so does an expiry under `ask-again`; a
/// pending request is replaced at once when the activity grew (a higher severity or count). An
/// approved request is never asked again: its run is the sweep's.
pub fn asks_again(
    request: &ApprovalRequest,
    before: &crate::incident::GuardDutyFinding,
    now: &crate::incident::GuardDutyFinding,
    on_expiry: crate::policy::OnExpiry,
) -> Option<String> {
    let updated = now.updated_at.as_str() > before.updated_at.as_str();
    let grew = now.severity > before.severity || now.count > before.count;
    let asks = match request.status {
        ApprovalStatus::Pending => grew,
        ApprovalStatus::Denied => updated,
        ApprovalStatus::Expired => updated && on_expiry == crate::policy::OnExpiry::AskAgain,
        ApprovalStatus::Approved => false,
    };
    if !asks {
        return None;
    }
    let mut changes = Vec::new();
    if now.severity != before.severity {
        changes.push(format!("severity {} → {}", before.severity, now.severity));
    }
    if now.count != before.count {
        changes.push(format!("seen {} → {} times", before.count, now.count));
    }
    if updated {
        changes.push(format!("updated {} → {}", before.updated_at, now.updated_at));
    }
    Some(format!(
        "asked again: GuardDuty updated the finding since the request that was {} ({})",
        request.status.as_str(),
        changes.join("; ")
    ))
}

/// `plan`, approved by `by`: a containment under a claim of its own (`approved#<key>`), saying who
/// approved it.
pub fn approved(mut plan: Plan, by: &Approver) -> Plan {
    use crate::plan::{Decision, StepKind};
    // What the plan was before it waited: a revocation alone stays a revocation, an idle stop a stop.
    let revokes_only = plan.acting_steps().all(|s| {
        matches!(
            s.kind(),
            StepKind::RevokeInstanceCredentials | StepKind::RevokeRoleSessions | StepKind::DeactivateAccessKey
        )
    });
    let stops_only = plan.acting_steps().all(|s| s.kind() == StepKind::StopInstance);
    plan.decision = match (revokes_only, stops_only) {
        (true, _) => Decision::Revoke,
        (_, true) => Decision::StopIdle,
        _ => Decision::Contain,
    };
    plan.incident_key = crate::state_keys::approved(&plan.incident_key);
    plan.summary = format!("Approved: {}", plan.summary);
    plan.reasons.insert(
        0,
        match by.via {
            Via::Deadline => format!(
                "approved by the deadline: nobody answered and FIREBREAK_APPROVAL_ON_EXPIRY is contain ({})",
                by.describe()
            ),
            Via::Policy => format!(
                "contained without waiting: GuardDuty raised the finding past the automatic threshold while it \
                 waited for a person ({})",
                by.describe()
            ),
            _ => format!("approved by a person ({})", by.describe()),
        },
    );
    plan
}

/// What each acting step of `plan` would do, one line each.
pub fn planned_lines(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .filter(|a| !a.step.kind().run_by_executor())
        .map(|a| match a.step.instance_id() {
            Some(id) => format!("{} ({id}): {}", a.step.kind().human_name(), a.reason),
            None => format!("{}: {}", a.step.kind().human_name(), a.reason),
        })
        .collect()
}

/// The two links a notification carries, and until when they work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalLinks {
    pub approve: String,
    pub deny: String,
    /// Epoch seconds.
    pub deadline: u64,
}

/// A token that verified: the incident it is bound to, the verdict it carries, its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub key: String,
    pub verdict: Verdict,
    pub deadline: u64,
}

/// Signs and verifies approval tokens with the deployment's key (from Secrets Manager, never from the
/// environment in plain text), and builds the links to the approval function's URL.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
    url: String,
    ttl: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("url", &self.url).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl Signer {
    /// `secret` is the key's text; `url` the approval function's URL.
    pub fn new(secret: &str, url: &str, ttl: Duration) -> Result<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::config(
                "FIREBREAK_APPROVAL_SECRET_ARN",
                format!("the approval key has {} bytes; at least {MIN_SECRET_BYTES} are required", secret.len()),
            ));
        }
        Ok(Self { secret: secret.as_bytes().to_vec(), url: url.trim_end_matches('/').to_owned(), ttl })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self, key: &str, verdict: Verdict, deadline: u64) -> HmacSha256 {
        // Fixed-width fields first and the key last: no two (key, verdict, deadline) sign the same bytes.
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(format!("firebreak-approval/{TOKEN_VERSION}\n{}\n{deadline}\n{key}", verdict.as_str()).as_bytes());
        mac
    }

    /// `v1.<verdict>.<deadline>.<key, base64url>.<HMAC-SHA256, base64url>`
    pub fn token(&self, key: &str, verdict: Verdict, deadline: u64) -> String {
        let tag = self.mac(key, verdict, deadline).finalize().into_bytes();
        format!("{TOKEN_VERSION}.{}.{deadline}.{}.{}", verdict.as_str(), b64(key.as_bytes()), b64(&tag))
    }

    pub fn links(&self, key: &str, deadline: u64) -> ApprovalLinks {
        let link = |verdict| format!("{}/?token={}", self.url, self.token(key, verdict, deadline));
        ApprovalLinks { approve: link(Verdict::Approve), deny: link(Verdict::Deny), deadline }
    }

    /// The token's incident, verdict and deadline, if it is one this deployment signed and its deadline
    /// has not passed at `now`. The signature is checked in constant time before anything is believed.
    pub fn verify(&self, token: &str, now: u64) -> std::result::Result<Token, TokenRefusal> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        let [version, verdict, deadline, key, tag] = parts.as_slice() else {
            return Err(TokenRefusal::Malformed);
        };
        if *version != TOKEN_VERSION {
            return Err(TokenRefusal::Malformed);
        }
        let verdict = Verdict::parse(verdict).ok_or(TokenRefusal::Malformed)?;
        let deadline: u64 = deadline.parse().map_err(|_| TokenRefusal::Malformed)?;
        let key = unb64(key).and_then(|k| String::from_utf8(k).ok()).ok_or(TokenRefusal::Malformed)?;
        let tag = unb64(tag).ok_or(TokenRefusal::Malformed)?;
        self.mac(&key, verdict, deadline).verify_slice(&tag).map_err(|_| TokenRefusal::BadSignature)?;
        if now >= deadline {
            return Err(TokenRefusal::Expired { deadline });
        }
        Ok(Token { key, verdict, deadline })
    }
}

/// What the approval function verifies links with: each kind of request is signed by the function that
/// asks, with a key of its own (GuardDuty responder: `firebreak-approval-key`; alarm responder:
/// `firebreak-idle-approval-key`), so that neither can sign a link to the other's requests.
#[derive(Debug, Clone)]
pub struct Verifier {
    signers: Vec<(crate::incident::Kind, Signer)>,
}

impl Verifier {
    pub fn new(signers: Vec<(crate::incident::Kind, Signer)>) -> Self {
        Self { signers }
    }

    /// [`Signer::verify`] with the key of the kind of incident the token names; a kind no key is held
    /// for is a bad signature.
    pub fn verify(&self, token: &str, now: u64) -> std::result::Result<Token, TokenRefusal> {
        let key = token.trim().split('.').nth(3).and_then(unb64).and_then(|k| String::from_utf8(k).ok());
        let kind = key.as_deref().and_then(crate::state_keys::incident_kind).ok_or(TokenRefusal::Malformed)?;
        let (_, signer) = self.signers.iter().find(|(k, _)| *k == kind).ok_or(TokenRefusal::BadSignature)?;
        signer.verify(token, now)
    }
}

/// Why a token is not honoured. Nothing is changed for any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    BadSignature,
    Expired { deadline: u64 },
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("this link is not a Firebreak approval link (malformed token)"),
            Self::BadSignature => f.write_str("this link was not signed by this Firebreak deployment (bad signature)"),
            Self::Expired { deadline } => {
                write!(f, "this link expired at {}; nothing was done", utc(*deadline))
            }
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "incident#guardduty#123456789012#us-east-1#abc";

    fn signer() -> Signer {
        Signer::new(&"k".repeat(64), "https://abc.lambda-url.us-east-1.on.aws/", crate::config::DEFAULT_APPROVAL_TTL)
            .expect("signer")
    }

    #[test]
    fn a_signed_token_verifies_before_its_deadline_and_names_its_incident_and_verdict() {
        let token = signer().token(KEY, Verdict::Approve, 2_000);
        assert_eq!(
            signer().verify(&token, 1_999),
            Ok(Token { key: KEY.into(), verdict: Verdict::Approve, deadline: 2_000 })
        );
        assert_eq!(signer().verify(&token, 2_000), Err(TokenRefusal::Expired { deadline: 2_000 }));
    }

    #[test]
    fn only_an_idle_stops_request_goes_without_a_seal() {
        let request = |key: &str| ApprovalRequest {
            key: key.into(),
            status: ApprovalStatus::Pending,
            requested_at: 0,
            deadline: 1,
            summary: String::new(),
            account: None,
            region: None,
            reasons: vec![],
            actions: vec![],
            event: String::new(),
            decided: None,
        };
        assert!(request(KEY).is_sealed());
        assert!(request(&format!("dry-run#{KEY}")).is_sealed());
        let idle = request("dry-run#incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:idle-stop-x#t");
        assert!(idle.is_idle_stop() && !idle.is_sealed());
        assert!(request("not-an-incident-key").is_sealed(), "anything else is held to a seal");
    }

    #[test]
    fn each_kind_of_request_verifies_only_under_its_own_key() {
        use crate::incident::Kind;
        let idle = Signer::new(&"i".repeat(64), "https://abc.lambda-url.us-east-1.on.aws/", Duration::from_secs(60))
            .expect("signer");
        let alarm_key = "incident#alarm#arn:aws:cloudwatch:us-east-1:123456789012:alarm:idle-stop-x#t";
        let verifier = Verifier::new(vec![(Kind::Guardduty, signer()), (Kind::Alarm, idle.clone())]);
        assert!(verifier.verify(&signer().token(KEY, Verdict::Approve, 2_000), 1_000).is_ok());
        assert!(verifier.verify(&idle.token(alarm_key, Verdict::Approve, 2_000), 1_000).is_ok());
        // The alarm responder's key cannot sign a link to a finding's request, nor the reverse.
        assert_eq!(verifier.verify(&idle.token(KEY, Verdict::Approve, 2_000), 1_000), Err(TokenRefusal::BadSignature));
        assert_eq!(
            verifier.verify(&signer().token(alarm_key, Verdict::Approve, 2_000), 1_000),
            Err(TokenRefusal::BadSignature)
        );
        let guardduty_only = Verifier::new(vec![(Kind::Guardduty, signer())]);
        assert_eq!(
            guardduty_only.verify(&idle.token(alarm_key, Verdict::Approve, 2_000), 1_000),
            Err(TokenRefusal::BadSignature)
        );
        assert_eq!(verifier.verify("v1.approve.2000.bm90LWFuLWluY2lkZW50.AAAA", 1_000), Err(TokenRefusal::Malformed));
    }

    #[test]
    fn a_changed_verdict_deadline_or_incident_breaks_the_signature() {
        let token = signer().token(KEY, Verdict::Deny, 2_000);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = [
            format!("v1.approve.{}.{}.{}", parts[2], parts[3], parts[4]),
            format!("v1.deny.9999.{}.{}", parts[3], parts[4]),
            format!("v1.deny.{}.{}.{}", parts[2], b64(b"incident#guardduty#123456789012#us-east-1#other"), parts[4]),
        ];
        for token in forged {
            assert_eq!(signer().verify(&token, 1_000), Err(TokenRefusal::BadSignature), "{token}");
        }
        let other_key = Signer::new(&"x".repeat(64), "https://x", crate::config::DEFAULT_APPROVAL_TTL).expect("signer");
        assert_eq!(other_key.verify(&token, 1_000), Err(TokenRefusal::BadSignature));
    }

    /// A request in `status` about the sample finding, and the finding as it was asked about.
    fn asked(status: ApprovalStatus) -> (ApprovalRequest, crate::incident::GuardDutyFinding) {
        let path = format!("{}/../events/guardduty/ec2-backdoor-high-severity.json", env!("CARGO_MANIFEST_DIR"));
        let event = std::fs::read_to_string(path).expect("sample");
        let mut incidents = crate::parse_payload(event.as_bytes()).expect("parses");
        let crate::incident::IncidentKind::Guardduty(finding) = incidents.remove(0).kind else { panic!() };
        let request = ApprovalRequest {
            key: KEY.into(),
            status,
            requested_at: 0,
            deadline: 3_600,
            summary: String::new(),
            account: None,
            region: None,
            reasons: Vec::new(),
            actions: Vec::new(),
            event,
            decided: None,
        };
        (request, finding)
    }

    #[test]
    fn a_finding_is_asked_about_again_only_when_its_update_warrants_it() {
        use crate::policy::OnExpiry::{AskAgain, Contain, Notify};
        let later = |f: &crate::incident::GuardDutyFinding| crate::incident::GuardDutyFinding {
            updated_at: "2099-01-01T00:00:00.000Z".into(),
            ..f.clone()
        };
        let grown = |f: &crate::incident::GuardDutyFinding| crate::incident::GuardDutyFinding {
            severity: f.severity + 1.0,
            count: f.count + 5,
            ..f.clone()
        };
        for (status, on_expiry, change, asks) in [
            (ApprovalStatus::Pending, AskAgain, "same", false),
            (ApprovalStatus::Pending, AskAgain, "later", false),
            (ApprovalStatus::Pending, Notify, "grown", true),
            (ApprovalStatus::Denied, Notify, "same", false),
            (ApprovalStatus::Denied, Notify, "later", true),
            (ApprovalStatus::Expired, AskAgain, "later", true),
            (ApprovalStatus::Expired, AskAgain, "same", false),
            (ApprovalStatus::Expired, Notify, "later", false),
            (ApprovalStatus::Expired, Contain, "later", false),
            (ApprovalStatus::Approved, AskAgain, "later", false),
            (ApprovalStatus::Approved, AskAgain, "grown", false),
        ] {
            let (request, before) = asked(status);
            let now = match change {
                "later" => later(&before),
                "grown" => grown(&before),
                _ => before.clone(),
            };
            let said = asks_again(&request, &before, &now, on_expiry);
            assert_eq!(said.is_some(), asks, "{status:?} {on_expiry:?} {change}: {said:?}");
        }
        let (request, before) = asked(ApprovalStatus::Pending);
        let said = asks_again(&request, &before, &grown(&before), AskAgain).expect("asks");
        assert!(said.contains("severity 8 → 9") && said.contains("seen 1 → 6 times"), "{said}");
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for token in ["", "v1", "v2.approve.1.a.b", "v1.maybe.1.a.b", "v1.approve.x.a.b", "v1.approve.1.!!.b", "....."]
        {
            assert_eq!(signer().verify(token, 0), Err(TokenRefusal::Malformed), "{token:?}");
        }
    }

    #[test]
    fn links_carry_one_token_per_verdict_to_the_function_url() {
        let links = signer().links(KEY, 5_000);
        assert!(links.approve.starts_with("https://abc.lambda-url.us-east-1.on.aws/?token=v1.approve.5000."));
        assert!(links.deny.starts_with("https://abc.lambda-url.us-east-1.on.aws/?token=v1.deny.5000."));
        let token = links.approve.split_once("token=").map(|(_, t)| t).unwrap_or_default();
        assert_eq!(signer().verify(token, 0).map(|t| t.verdict), Ok(Verdict::Approve));
    }

    #[test]
    fn a_short_key_is_refused_at_start() {
        let err =
            Signer::new("short", "https://x", crate::config::DEFAULT_APPROVAL_TTL).expect_err("refused").to_string();
        assert!(err.contains("FIREBREAK_APPROVAL_SECRET_ARN"), "{err}");
    }

    #[test]
    fn the_persisted_status_names_are_pinned() {
        let names: Vec<&str> = ApprovalStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["pending", "approved", "denied", "expired"]);
        assert_eq!((crate::state_keys::APPROVAL, crate::state_keys::APPROVED), ("approval#", "approved#"));
        for (via, name) in
            [(Via::Link, "link"), (Via::Cli, "cli"), (Via::Deadline, "deadline"), (Via::Policy, "policy")]
        {
            assert_eq!((via.as_str(), serde_json::to_value(via).ok()), (name, Some(serde_json::json!(name))));
        }
        for status in ApprovalStatus::ALL {
            assert_eq!(serde_json::to_value(status).ok(), Some(serde_json::json!(status.as_str())));
        }
        let notes = [RequestNote::Undelivered, RequestNote::Abandoned].map(RequestNote::attribute);
        assert_eq!(notes, ["undelivered", "abandoned"]);
    }
}
