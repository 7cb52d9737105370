//! Rendering a report into one notification: a subject SNS accepts, readable text for people, the
//! versioned JSON report for machines, optionally the AWS Chatbot document, and filterable attributes.
//! Event text is attacker-influenced, so everything taken from an event is sanitised here.

mod links;
mod sanitise;

pub use links::links;
pub use sanitise::{ascii_line, sanitise, MAX_FIELD};

use crate::incident::{Incident, IncidentKind, Kind, Origin, SeverityLabel};
use crate::plan::{Decision, StepKind};
use crate::report::{ActionReport, Outcome, Report};
use serde_json::json;
use std::collections::BTreeMap;

/// What a security-group isolation does not close, each with what to do about it. Security groups do
/// not filter traffic to the VPC's DNS resolver, DHCP, the instance metadata service, Amazon Time Sync
/// or Windows license activation, and EC2 always tracks ICMP.
const ISOLATION_LIMITS: [&str; 3] = [
    "{id} is isolated: no security group rule lets traffic in or out of its interfaces, and its tracked TCP/UDP connections were cut. Still open: DNS queries to the VPC's Route 53 Resolver (a channel for DNS tunnelling; block it with a Route 53 Resolver DNS Firewall rule for the VPC), the instance metadata service and Amazon Time Sync, and an ICMP flow already open (EC2 always tracks ICMP) until it times out.",
    "Its role credentials still work, from the instance and wherever they were copied: revoke the role's active sessions (IAM console: Revoke active sessions) or detach its instance profile, and look for their use in CloudTrail.",
    "Investigate {id} in place or attach its snapshots to a forensic instance in an isolated VPC.",
];

/// What replaces the credentials line of [`ISOLATION_LIMITS`] once they are revoked.
const CREDENTIALS_REVOKED: &str = "The role credentials issued to {id} are denied wherever they are used, and its metadata service is off: look for their earlier use in CloudTrail (userIdentity.principalId ending in :{id}).";

/// One message to the notification topic, rendered once per protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// At most 100 printable ASCII characters, one line.
    pub subject: String,
    /// Plain text for people (email).
    pub text: String,
    /// A short line for SMS.
    pub sms: String,
    /// The structured JSON report for machines (queues, Lambda, HTTPS).
    pub json: String,
    /// The AWS Chatbot custom-notification document, when `FIREBREAK_CHAT_FORMAT=chatbot`.
    pub chat: Option<String>,
    /// SNS message attributes, for subscription filter policies.
    pub attributes: BTreeMap<String, String>,
}

/// SNS rejects subjects over 100 characters, with line breaks or non-printable characters.
pub const MAX_SUBJECT: usize = 100;
/// The version of the JSON report (`schema` field); see `docs/report.schema.json`.
pub const REPORT_SCHEMA: &str = "firebreak.report/v1";
const MAX_SMS: usize = 140;

/// How to render, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rendering {
    pub dry_run: bool,
    /// Emit the AWS Chatbot custom-notification document as the default body.
    pub chatbot: bool,
}

pub fn subject(report: &Report, dry_run: bool) -> String {
    let prefix = if dry_run { "[DRY RUN] " } else { "" };
    ascii_line(&format!("{prefix}[{}] {}", report.severity.as_str(), report.summary), MAX_SUBJECT)
}

fn outcome_line(report: &ActionReport) -> String {
    let human = crate::plan::human_name(report.action);
    let action = match &report.target {
        Some(target) => format!("{human} ({})", sanitise(target, MAX_FIELD)),
        None => human.to_owned(),
    };
    match &report.outcome {
        Outcome::Done { detail } => format!("- {action}: done - {}", sanitise(detail, MAX_FIELD)),
        Outcome::Skipped { reason, .. } => format!("- {action}: not done - {}", sanitise(reason, MAX_FIELD)),
        Outcome::Failed { error } => format!("- {action}: FAILED - {}", sanitise(&error.to_string(), MAX_FIELD)),
    }
}

/// The notice sent once per account and hour when the blast-radius cap is reached.
pub fn circuit_open(account: &str, hour: &str, cap: crate::plan::Cap, max: u32) -> Report {
    let noun = cap.noun();
    Report {
        incident_key: crate::state_keys::circuit(account, &format!("{hour}{}", cap.window_suffix())),
        kind: Kind::Circuit,
        decision: Decision::Notify,
        severity: SeverityLabel::Critical,
        summary: format!("Firebreak circuit open in {account}: {noun} cap of {max}/hour reached"),
        reasons: vec![format!(
            "Firebreak took {max} {noun} action(s) in account {account} during {hour}:00 UTC and holds back every further \
             one until the hour ends ({}). Each held-back incident is still notified, and stays open: a later delivery \
             acts once the cap allows.",
            cap.variable()
        )],
        actions: Vec::new(),
        approval: None,
        retrying_until: None,
        receipts: Vec::new(),
        timings: Default::default(),
    }
}

/// A containment the cap has held back for a whole window, told once (CRITICAL): what holds it, since
/// when, and how a person contains it now.
pub fn held_overdue(held: &crate::held::HeldContainment, now: &crate::clock::Now, max: u32) -> Report {
    let since = crate::clock::Now::at(held.held_at).rfc3339;
    let waited = now.epoch.saturating_sub(held.held_at) / 60;
    Report {
        incident_key: crate::state_keys::held(&held.incident_key),
        kind: Kind::Circuit,
        decision: Decision::Notify,
        severity: SeverityLabel::Critical,
        summary: format!(
            "Firebreak: a containment in {} has waited {waited} minutes for the blast-radius cap",
            held.account
        ),
        reasons: vec![format!(
            "CRITICAL: incident {} (GuardDuty severity {}) has been held back since {since}: {}. The cap allows {max} \
             containment(s) per hour in account {} (FIREBREAK_MAX_CONTAINMENTS_PER_HOUR, of which \
             FIREBREAK_CONTAINMENTS_RESERVED_FOR_SEVERE are kept for severity {} or more). The sweep contains it, the \
             most severe first, as soon as the cap allows; to contain it now, raise the cap and run firebreak sweep.",
            held.incident_key,
            held.severity,
            held.why,
            held.account,
            crate::held::SEVERE
        )],
        actions: Vec::new(),
        approval: None,
        retrying_until: None,
        receipts: Vec::new(),
        timings: Default::default(),
    }
}

/// The count of one kind of notification in an hour that is over, told once: the first was told at the
/// time, the rest only counted.
pub fn repeated(tally: &crate::repeats::Tally) -> Report {
    let what = tally.repeat.describe();
    Report {
        incident_key: crate::state_keys::tally(&tally.repeat, &tally.window),
        kind: tally.repeat.kind,
        decision: Decision::Notify,
        severity: SeverityLabel::Info,
        summary: format!("{} notifications of {what} in {} during {}:00 UTC", tally.count, tally.repeat.account, tally.window),
        reasons: vec![format!(
            "{} of the same kind ({what}) in account {} during {}:00 UTC: the first was told at the time ({}), the other \
             {} were counted, not sent one by one",
            tally.count,
            tally.repeat.account,
            tally.window,
            tally.first,
            tally.count - 1
        )],
        actions: Vec::new(),
        approval: None,
        retrying_until: None,
        receipts: Vec::new(),
        timings: Default::default(),
    }
}

/// The one word subscribers filter on: what Firebreak did.
fn action_attribute(report: &Report) -> &'static str {
    let done = |a: &str| report.outcome_of(a).is_some_and(Outcome::is_done);
    if report.kind == Kind::Circuit {
        "held"
    } else if report.approval.is_some() {
        "awaiting_approval"
    } else if done(StepKind::IsolateInstance.name()) {
        "isolated"
    } else if done(StepKind::StopInstance.name()) || done(StepKind::StopEcsTask.name()) {
        "stopped"
    } else if [
        StepKind::RevokeSecurityGroupIngress,
        StepKind::RevokeInstanceCredentials,
        StepKind::RevokeRoleSessions,
        StepKind::DeactivateAccessKey,
    ]
    .iter()
    .any(|k| done(k.name()))
    {
        "revoked"
    } else if done(crate::report::RESTORE_GROUPS) || done(crate::report::LIFT_CREDENTIAL_REVOCATION) {
        "released"
    } else {
        "notified"
    }
}

fn next_steps(report: &Report, incident: Option<&Incident>) -> Vec<String> {
    let mut steps = Vec::new();
    match report.kind {
        Kind::Circuit => steps.push(
            "Look before raising FIREBREAK_MAX_CONTAINMENTS_PER_HOUR: a flood of findings may be an attack on the responder \
             itself, a misconfigured detector, or sample findings."
                .into(),
        ),
        Kind::Release => steps.push(
            "Termination protection, the snapshots and the Auto Scaling detachment stay as they are: undo them by hand once \
             the evidence is no longer needed."
                .into(),
        ),
        _ => {}
    }
    if report.decision == Decision::AwaitApproval {
        steps.extend(approval_steps(report));
        return steps;
    }
    match incident.map(|i| &i.kind) {
        Some(IncidentKind::Guardduty(f)) if report.decision == Decision::Contain && f.sequence.is_some() => {
            let isolated: Vec<&str> = report
                .actions
                .iter()
                .filter(|a| a.action == StepKind::IsolateInstance.name() && a.outcome.is_done())
                .filter_map(|a| a.target.as_deref())
                .collect();
            let not_isolated: Vec<&str> = report
                .actions
                .iter()
                .filter(|a| a.action == StepKind::IsolateInstance.name() && !a.outcome.is_done())
                .filter_map(|a| a.target.as_deref())
                .collect();
            if !isolated.is_empty() {
                steps.push(format!(
                    "Isolated by this run: {}. Their role credentials still work: revoke the roles' active sessions and \
                     look for their use in CloudTrail.",
                    isolated.join(", ")
                ));
                steps.push(format!(
                    "When the investigation is over, end each quarantine: firebreak release <instance-id> ({})",
                    isolated.join(", ")
                ));
            }
            if !not_isolated.is_empty() {
                steps.push(format!(
                    "NOT isolated by this run (see above why): {}. Judge them by hand.",
                    not_isolated.join(", ")
                ));
            }
        }
        Some(IncidentKind::Guardduty(f)) if report.decision == Decision::Contain => {
            if let Some(id) = &f.instance_id {
                let isolated = report.outcome_of(StepKind::IsolateInstance.name()).is_some_and(Outcome::is_done);
                if isolated {
                    steps.push(format!(
                        "Inspect the evidence: aws ec2 describe-snapshots --owner-ids self --filters Name=tag:firebreak:incident,Values={}",
                        sanitise(&f.finding_id, 64)
                    ));
                    let revoked =
                        report.outcome_of(StepKind::RevokeInstanceCredentials.name()).is_some_and(Outcome::is_done);
                    steps.extend(ISOLATION_LIMITS.iter().enumerate().map(|(n, s)| match n {
                        1 if revoked => CREDENTIALS_REVOKED.replace("{id}", id.as_str()),
                        _ => s.replace("{id}", id.as_str()),
                    }));
                    steps.push(format!("When the investigation is over, end the quarantine: firebreak release {id}"));
                } else {
                    steps.push(format!(
                        "{id} was NOT isolated by this run (see above why): judge it by hand, and contain it yourself if needed."
                    ));
                }
            }
        }
        Some(IncidentKind::Guardduty(f)) if f.sample => {
            steps.push("Nothing to do: GuardDuty generated this sample finding for testing.".into())
        }
        Some(IncidentKind::Alarm(_)) if report.decision == Decision::StopIdle => {
            steps.push("If the instance is needed, start it again and tag it with the exemption tag so it is not stopped next time.".into());
        }
        Some(IncidentKind::Cloudtrail(_)) => {
            steps.push("Confirm with the principal that the call was intended; if not, rotate its credentials and review its other recent calls in CloudTrail.".into());
        }
        _ => {}
    }
    if let Some(request) = report.incident_key.strip_prefix(crate::state_keys::APPROVED) {
        // An approved run is a person's click, not an event: nothing redelivers it.
        if !report.failures().is_empty() {
            steps.insert(
                0,
                format!(
                    "Some steps FAILED (see above), and nothing retries an approved containment by itself: once the \
                     cause is fixed, resume it with firebreak approve '{}' (the journal skips what is done).",
                    sanitise(request, MAX_FIELD)
                ),
            );
        }
    } else if report.retry_may_help() {
        steps.insert(0, "Some steps FAILED (see above): Firebreak returns an error so the event is retried; check again after the retry.".into());
    } else if !report.failures().is_empty() {
        steps.insert(
            0,
            "Some steps FAILED in a way a retry cannot fix (see above: a missing permission or a refused request): the \
             event is not retried. Fix the cause, then run firebreak respond on the event again."
                .into(),
        );
    }
    steps
}

/// What a person does about a containment that waits for approval, or that was closed without it.
fn approval_steps(report: &Report) -> Vec<String> {
    let mut targets: Vec<&str> = report.actions.iter().filter_map(|a| a.target.as_deref()).collect();
    targets.dedup();
    let what = if targets.is_empty() { "the instance".to_owned() } else { targets.join(", ") };
    match &report.approval {
        Some(links) => vec![
            format!(
                "Nothing was done yet. Approve to contain {what} now with the steps above, or deny; the links work once, \
                 until {}.",
                crate::clock::utc(links.deadline)
            ),
            format!("Approve: {}", links.approve),
            format!("Deny: {}", links.deny),
            format!(
                "From a terminal with access to the state table: firebreak approve '{0}' or firebreak deny '{0}'",
                report.incident_key
            ),
        ],
        None => match report.retrying_until {
            Some(until) => vec![format!(
                "Approved, and nothing was done to {what} yet: Firebreak starts the run again every few minutes until {} \
                 (see above how to start it now), and tells you when it ran.",
                crate::clock::utc(until)
            )],
            None => vec![format!("Nothing was done to {what}: judge it by hand, and contain it yourself if needed.")],
        },
    }
}

/// Every notification Firebreak sends: an incident's after its steps ran (with `incident`), the
/// circuit-open notice and a release (without).
pub fn render(report: &Report, origin: &Origin, incident: Option<&Incident>, how: Rendering) -> Notification {
    let full = render_once(report, origin, incident, how);
    if fits(&full) {
        return full;
    }
    // Too big for one SNS message (an attack sequence of many instances): shorter outcome texts first,
    // then fewer outcomes, saying what is left out and where all of it is.
    let mut compact = report.clone();
    // A receipt keeps what was not simply verified; `incidents show` has it whole.
    for receipt in &mut compact.receipts {
        receipt.channels.retain(|c| c.state != crate::receipt::ChannelState::Verified);
        receipt.channels.iter_mut().for_each(|c| shorten(&mut c.detail, COMPACT_FIELD));
    }
    for action in &mut compact.actions {
        match &mut action.outcome {
            Outcome::Done { detail: text } | Outcome::Skipped { reason: text, .. } => shorten(text, COMPACT_FIELD),
            Outcome::Failed { .. } => {}
        }
    }
    let shortened = render_once(&compact, origin, incident, how);
    if fits(&shortened) {
        return shortened;
    }
    let total = compact.actions.len();
    let mut keep = total;
    loop {
        keep /= 2;
        let mut listed = compact.clone();
        // Failures are always listed; the others up to `keep`.
        let mut kept = 0;
        listed.actions.retain(|a| {
            let stays = a.outcome.is_failed() || a.action == StepKind::Notify.name() || kept < keep;
            kept += usize::from(stays && !a.outcome.is_failed());
            stays
        });
        let omitted = total - listed.actions.len();
        listed.reasons.push(format!(
            "{omitted} more step outcome(s) are not listed here (the notification would exceed what SNS accepts); \
             firebreak incidents show '{}' lists them all",
            report.incident_key
        ));
        let rendered = render_once(&listed, origin, incident, how);
        if fits(&rendered) || keep == 0 {
            return rendered;
        }
    }
}

/// SNS accepts 256 KiB for a message; the subject and attributes travel beside it.
pub const MAX_SNS_MESSAGE: usize = 256 * 1024 - 4 * 1024;
const COMPACT_FIELD: usize = 160;

fn fits(n: &Notification) -> bool {
    sns_message(n).len() <= MAX_SNS_MESSAGE
}

/// The SNS message (MessageStructure=json): machines get the report, people get text. With the chat
/// format on, `default` (and so HTTPS, which AWS Chatbot subscribes with) carries the Chatbot document
/// and the machines' protocols carry the report; without it they take `default`, so the report is
/// sent once.
pub fn sns_message(n: &Notification) -> String {
    let mut bodies = serde_json::Map::new();
    match &n.chat {
        Some(chat) => {
            bodies.insert("default".into(), chat.clone().into());
            for protocol in ["sqs", "lambda", "email-json"] {
                bodies.insert(protocol.into(), n.json.clone().into());
            }
        }
        None => {
            bodies.insert("default".into(), n.json.clone().into());
        }
    }
    bodies.insert("email".into(), n.text.clone().into());
    bodies.insert("sms".into(), n.sms.clone().into());
    serde_json::Value::Object(bodies).to_string()
}

fn shorten(text: &mut String, max: usize) {
    if text.chars().count() > max {
        *text = text.chars().take(max - 1).chain(['…']).collect();
    }
}

fn render_once(report: &Report, origin: &Origin, incident: Option<&Incident>, how: Rendering) -> Notification {
    let links = incident.map(links).unwrap_or_default();
    let steps = next_steps(report, incident);
    let mut text = vec![sanitise(&report.summary, MAX_FIELD)];
    if how.dry_run {
        text.push("DRY RUN: nothing was changed; outcomes say what would have been done.".into());
    }
    text.push(String::new());
    if let Some(account) = &origin.account {
        text.push(format!("Account: {account}"));
    }
    if let Some(region) = &origin.region {
        text.push(format!("Region: {region}"));
    }
    text.push(format!("Severity: {}", report.severity.as_str()));
    text.extend(incident.map(incident_details).unwrap_or_default());
    text.push(String::new());
    text.push("Why:".into());
    text.extend(report.reasons.iter().map(|r| format!("- {}", sanitise(r, MAX_FIELD))));
    let acted: Vec<String> =
        report.actions.iter().filter(|a| a.action != StepKind::Notify.name()).map(outcome_line).collect();
    if !acted.is_empty() {
        text.push(String::new());
        text.push("What Firebreak did, and did not do:".into());
        text.extend(acted);
    }
    for receipt in &report.receipts {
        text.push(String::new());
        text.extend(receipt.lines().iter().map(|l| sanitise(l, MAX_FIELD)));
    }
    if !steps.is_empty() {
        text.push(String::new());
        text.push("Next steps:".into());
        text.extend(steps.iter().map(|s| format!("- {s}")));
    }
    if !links.is_empty() {
        text.push(String::new());
        text.extend(links.iter().map(|(label, url)| format!("Console ({label}): {url}")));
    }
    let text = text.join("\n");
    let action = action_attribute(report);
    let mut attributes = BTreeMap::from([
        ("severity".to_owned(), report.severity.as_str().to_owned()),
        ("kind".to_owned(), report.kind.as_str().to_owned()),
        ("action".to_owned(), action.to_owned()),
        ("dry_run".to_owned(), how.dry_run.to_string()),
    ]);
    if let Some(account) = &origin.account {
        attributes.insert("account".to_owned(), account.to_string());
    }
    if let Some(region) = &origin.region {
        attributes.insert("region".to_owned(), region.to_string());
    }
    let subject = subject(report, how.dry_run);
    let json = json!({
        "schema": REPORT_SCHEMA,
        "subject": subject,
        "kind": report.kind,
        "severity": report.severity,
        "action": action,
        "dry_run": how.dry_run,
        "account": origin.account,
        "region": origin.region,
        "report": sanitised_report(report),
        "next_steps": steps,
        "links": links.iter().map(|(label, url)| json!({"label": label, "url": url})).collect::<Vec<_>>(),
        "text": text,
    });
    let chat = how.chatbot.then(|| chatbot(report, &subject, &text, &steps, &links, origin).to_string());
    let sms = ascii_line(&format!("Firebreak {action}: {subject}"), MAX_SMS);
    Notification { subject, text, sms, json: json.to_string(), chat, attributes }
}

/// The AWS Chatbot custom-notification document (version 1.0, `source: custom`).
fn chatbot(
    report: &Report,
    subject: &str,
    text: &str,
    steps: &[String],
    links: &[(&str, String)],
    origin: &Origin,
) -> serde_json::Value {
    let mut related: Vec<String> = links.iter().map(|(_, url)| url.clone()).collect();
    related.truncate(5);
    json!({
        "version": "1.0",
        "source": "custom",
        "id": sanitise(&report.incident_key, 256),
        "content": {
            "textType": "client-markdown",
            "title": subject,
            "description": text,
            "nextSteps": steps,
            "keywords": [report.kind, report.severity.as_str(), action_attribute(report)],
        },
        "metadata": {
            "threadId": sanitise(&report.incident_key, 256),
            "summary": subject,
            "eventType": format!("firebreak.{}", report.kind),
            "relatedResources": related,
            "additionalContext": {
                "account": origin.account.as_ref().map(|a| a.to_string()).unwrap_or_default(),
                "region": origin.region.as_ref().map(|r| r.to_string()).unwrap_or_default(),
            },
        },
    })
}

/// What a responder needs to judge the incident, per kind; every value from the event is sanitised.
fn incident_details(incident: &Incident) -> Vec<String> {
    let clean = |s: &str| sanitise(s, MAX_FIELD);
    let mut lines = Vec::new();
    match &incident.kind {
        IncidentKind::Guardduty(f) => {
            lines.push(format!("Finding: {} ({})", clean(&f.finding_type), clean(&f.finding_id)));
            lines.push(format!("Title: {}", clean(&f.title)));
            lines.push(format!(
                "GuardDuty severity: {}, resource type {}, seen {} time(s)",
                f.severity, f.resource_type, f.count
            ));
            if let Some(id) = &f.instance_id {
                let name = f.instance_name.as_deref().map(|n| format!(" ({})", clean(n))).unwrap_or_default();
                lines.push(format!("Instance: {id}{name}"));
            }
            if let Some(p) = &f.process {
                let pid = p.pid.map(|p| format!(" pid {p}")).unwrap_or_default();
                let user = p.user.as_deref().map(|u| format!(" as {}", clean(u))).unwrap_or_default();
                lines.push(format!(
                    "Process: {} ({}){pid}{user}",
                    clean(p.name.as_deref().unwrap_or("?")),
                    clean(p.executable_path.as_deref().unwrap_or("?"))
                ));
                if let Some(command) = &p.command_line {
                    lines.push(format!("Command line: {}", clean(command)));
                }
            }
            if let Some(w) = &f.workload {
                lines.push(format!("{} cluster: {}", w.platform, clean(w.cluster.as_deref().unwrap_or("?"))));
                if let Some(task) = &w.task_arn {
                    lines.push(format!("Task: {}", clean(task)));
                }
                if let Some(definition) = &w.task_definition {
                    lines.push(format!("Task definition: {}", clean(definition)));
                }
                for (name, image) in w.containers.iter().take(10) {
                    lines.push(format!("Container: {} image {}", clean(name), clean(image)));
                }
            }
            if let Some(seq) = &f.sequence {
                lines.extend(sequence_details(seq));
            }
            if f.sample {
                lines.push(
                    "This is a SAMPLE finding (generated by GuardDuty for testing); nothing was contained.".into(),
                );
            }
        }
        IncidentKind::Alarm(a) => {
            let previous = a.previous_state.map(|s| s.as_str()).unwrap_or("?");
            lines.push(format!("Alarm: {} (from {} to {})", clean(&a.alarm_name), previous, a.state.as_str()));
            if let Some(d) = &a.description {
                lines.push(format!("Description: {}", clean(d)));
            }
            lines.push(format!("Reason: {}", clean(&a.reason)));
            if let Some(c) = &a.contributor {
                let attributes: Vec<String> =
                    c.attributes.iter().map(|(k, v)| format!("{}={}", clean(k), clean(v))).collect();
                lines.push(format!("Contributor: {} [{}]", clean(&c.id), attributes.join(", ")));
            }
            for expression in &a.expressions {
                lines.push(format!("Query: {}", clean(expression)));
            }
            for m in &a.metrics {
                let dims: Vec<String> =
                    m.dimensions.iter().map(|(k, v)| format!("{}={}", clean(k), clean(v))).collect();
                lines.push(format!(
                    "Metric: {}/{} [{}]",
                    clean(m.namespace.as_deref().unwrap_or("?")),
                    clean(m.name.as_deref().unwrap_or("?")),
                    dims.join(", ")
                ));
            }
            if let Some(t) = a.threshold {
                lines.push(format!("Threshold: {t}"));
            }
            if !a.recent_datapoints.is_empty() {
                let points: Vec<String> = a.recent_datapoints.iter().take(20).map(|p| p.to_string()).collect();
                lines.push(format!("Recent datapoints: {}", points.join(", ")));
            }
            if !a.triggering_alarms.is_empty() {
                let alarms: Vec<String> = a.triggering_alarms.iter().map(|t| clean(t)).collect();
                lines.push(format!("Triggering alarms: {}", alarms.join(", ")));
            }
            if let Some(arn) = &a.alarm_arn {
                lines.push(format!("Alarm ARN: {}", clean(arn)));
            }
        }
        IncidentKind::Cloudtrail(e) => {
            lines.push(format!(
                "Event: {} from {} at {}",
                clean(&e.event_name),
                clean(&e.event_source),
                clean(&e.event_time)
            ));
            let who = e.identity_arn.as_deref().or(e.user_name.as_deref()).unwrap_or("unknown");
            lines.push(format!("Principal: {} ({})", clean(who), clean(e.identity_type.as_deref().unwrap_or("?"))));
            if let Some(ip) = &e.source_ip {
                lines.push(format!("Source IP: {}", clean(ip)));
            }
            if let Some(agent) = &e.user_agent {
                lines.push(format!("User agent: {}", clean(agent)));
            }
            if let Some(code) = &e.error_code {
                lines.push(format!("Error: {} {}", clean(code), clean(e.error_message.as_deref().unwrap_or(""))));
            }
            if let Some(id) = &e.event_id {
                lines.push(format!("Event id: {}", clean(id)));
            }
        }
        IncidentKind::SecurityHub(f) => {
            let format = match f.format {
                crate::incident::FindingFormat::Ocsf => "OCSF",
                crate::incident::FindingFormat::Asff => "ASFF",
            };
            lines.push(format!("Security Hub finding ({format}) of {}: {}", clean(&f.product), clean(&f.title)));
            lines.push(format!("Severity: {}", clean(&f.severity_label)));
            if let Some(id) = &incident.security_hub {
                lines.push(format!("Finding id: {}", clean(&id.id)));
            }
            for resource in f.resources.iter().take(10) {
                lines.push(format!("Resource: {}", clean(resource)));
            }
        }
        IncidentKind::Recognised { detail_type, .. } => lines.push(format!("Event: {}", clean(detail_type))),
    }
    lines
}

/// An attack sequence: what it is, its signals, actors and resources, and the instances it names.
fn sequence_details(seq: &crate::incident::AttackSequence) -> Vec<String> {
    const LISTED: usize = 25;
    let clean = |s: &str| sanitise(s, MAX_FIELD);
    let mut lines = vec![format!("Attack sequence: {}", clean(&seq.uid))];
    if !seq.description.is_empty() {
        lines.push(format!("Description: {}", clean(&seq.description)));
    }
    for signal in seq.signals.iter().take(LISTED) {
        let severity = signal.severity.map(|s| format!(", severity {s}")).unwrap_or_default();
        lines.push(format!("Signal: {} ({}{severity})", clean(&signal.name), clean(&signal.signal_type)));
    }
    for actor in seq.actors.iter().take(LISTED) {
        lines.push(format!("Actor: {}", clean(actor)));
    }
    for resource in seq.resources.iter().take(LISTED) {
        let name = resource.name.as_deref().map(|n| format!(" ({})", clean(n))).unwrap_or_default();
        lines.push(format!("Resource: {} {}{name}", clean(&resource.resource_type), clean(&resource.uid)));
    }
    let more = |n: usize, what: &str| (n > LISTED).then(|| format!("… and {} more {what}", n - LISTED));
    lines.extend(more(seq.signals.len(), "signal(s)"));
    lines.extend(more(seq.resources.len(), "resource(s)"));
    for instance in &seq.instances {
        lines.push(format!("Compromised instance: {} (named {})", instance.id, clean(&instance.via)));
    }
    if !seq.possibly_truncated.is_empty() {
        let groups: Vec<String> = seq.possibly_truncated.iter().map(|g| clean(g)).collect();
        lines.push(format!(
            "Possibly more instances: {} list(s) the most GuardDuty returns; check the group for others",
            groups.join(", ")
        ));
    }
    if !seq.container_hosts.is_empty() {
        let hosts: Vec<String> = seq.container_hosts.iter().map(ToString::to_string).collect();
        lines.push(format!(
            "Container hosts of the cluster (not isolated for this sequence; judge them by hand): {}",
            hosts.join(", ")
        ));
    }
    lines
}

/// The report as JSON with every text sanitised (a failed step's error included).
fn sanitised_report(report: &Report) -> serde_json::Value {
    let clean = |v: &mut serde_json::Value| {
        if let Some(text) = v.as_str() {
            *v = serde_json::Value::String(sanitise(text, MAX_FIELD));
        }
    };
    let mut value = serde_json::to_value(report).unwrap_or_default();
    for field in ["summary", "incident_key"] {
        if let Some(v) = value.get_mut(field) {
            clean(v);
        }
    }
    for list in ["reasons", "actions"] {
        if let Some(items) = value.get_mut(list).and_then(|v| v.as_array_mut()) {
            for item in items {
                clean(item);
                for field in ["detail", "reason", "error", "target"] {
                    if let Some(v) = item.get_mut(field) {
                        clean(v);
                    }
                }
            }
        }
    }
    value
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::incident::{AccountId, Region};
    use crate::plan::Decision;
    use crate::report::ActionReport;

    fn big_report(instances: usize) -> Report {
        let mut report = Report {
            incident_key: "incident#guardduty#123456789012#us-east-1#seq".into(),
            kind: Kind::Guardduty,
            decision: Decision::Contain,
            severity: SeverityLabel::Critical,
            summary: "GuardDuty AttackSequence:EC2/CompromisedInstanceGroup".into(),
            reasons: vec!["attack sequence".into()],
            actions: Vec::new(),
            approval: None,
            retrying_until: None,
            receipts: Vec::new(),
            timings: Default::default(),
        };
        for n in 0..instances {
            for step in [
                "detach_from_auto_scaling_group",
                "isolate_instance",
                "revoke_instance_credentials",
                "protect_instance",
                "deregister_from_target_groups",
                "snapshot_volumes",
                "tag_instance",
            ] {
                let outcome = if n == 7 && step == "snapshot_volumes" {
                    Outcome::failed(crate::error::Error::Deadline(
                        "not started: the invocation deadline is near".into(),
                    ))
                } else {
                    Outcome::done("x".repeat(400))
                };
                report.actions.push(ActionReport {
                    action: step,
                    target: Some(format!("i-0abc1234def5{n:05}")),
                    at: None,
                    outcome,
                });
            }
        }
        report.push("notify", Outcome::done("published"));
        report
    }

    #[test]
    fn a_notification_about_many_instances_fits_one_sns_message_in_every_format_and_keeps_its_failures() {
        let origin = Origin { account: AccountId::parse("123456789012"), region: Region::parse("us-east-1") };
        for chatbot in [false, true] {
            let n = render(&big_report(200), &origin, None, Rendering { dry_run: false, chatbot });
            assert!(sns_message(&n).len() <= MAX_SNS_MESSAGE, "chatbot {chatbot}: {} bytes", sns_message(&n).len());
            assert!(
                n.text.contains("Snapshot its volumes as evidence (i-0abc1234def500007): FAILED"),
                "failures are always listed"
            );
            assert!(n.text.contains("more step outcome(s) are not listed here"), "what is left out is said");
            let json: serde_json::Value = serde_json::from_str(&n.json).expect("json");
            assert!(json["report"]["actions"].as_array().is_some_and(|a| !a.is_empty()));
        }
        // A small report is rendered whole.
        let n = render(&big_report(2), &origin, None, Rendering::default());
        assert!(!n.text.contains("not listed here"));
        assert_eq!(n.text.matches("Isolate it from the network (").count(), 2);
    }
}

#[cfg(test)]
mod approval_tests {
    use super::*;
    use crate::error::Error;
    use crate::plan::Decision;

    fn report(key: &str, decision: Decision) -> Report {
        let mut report = Report {
            incident_key: key.into(),
            kind: Kind::Guardduty,
            decision,
            severity: SeverityLabel::Medium,
            summary: "GuardDuty Backdoor:EC2/C&CActivity.B on i-0abc1234def567890".into(),
            reasons: vec!["approval required".into()],
            actions: Vec::new(),
            approval: None,
            retrying_until: None,
            receipts: Vec::new(),
            timings: Default::default(),
        };
        report.push(
            "snapshot_volumes",
            Outcome::failed(Error::Aws {
                operation: "CreateSnapshots",
                code: Some("RequestLimitExceeded".into()),
                message: "slow".into(),
                retryable: true,
            }),
        );
        report
    }

    #[test]
    fn a_failed_approved_run_says_how_to_resume_it_not_that_an_event_will_be_retried() {
        let approved = report("approved#incident#guardduty#123456789012#us-east-1#f", Decision::Contain);
        let steps = next_steps(&approved, None);
        assert!(steps[0].contains("firebreak approve 'incident#guardduty#123456789012#us-east-1#f'"), "{steps:?}");
        assert!(steps.iter().all(|s| !s.contains("the event is retried")), "{steps:?}");
        let automatic = report("incident#guardduty#123456789012#us-east-1#f", Decision::Contain);
        assert!(next_steps(&automatic, None)[0].contains("the event is retried"));
    }

    #[test]
    fn a_request_for_approval_carries_both_links_the_deadline_and_the_terminal_commands() {
        let mut waiting = report("incident#guardduty#123456789012#us-east-1#f", Decision::AwaitApproval);
        waiting.actions.clear();
        waiting.approval = Some(crate::approval::ApprovalLinks {
            approve: "https://u.lambda-url.us-east-1.on.aws/?token=v1.approve.1".into(),
            deny: "https://u.lambda-url.us-east-1.on.aws/?token=v1.deny.1".into(),
            deadline: 1_795_506_974,
        });
        let n = render(&waiting, &Origin { account: None, region: None }, None, Rendering::default());
        for expected in [
            "Approve: https://u.lambda-url.us-east-1.on.aws/?token=v1.approve.1",
            "Deny: https://u.lambda-url.us-east-1.on.aws/?token=v1.deny.1",
            "until 2026-11-24T07:56:14Z",
            "firebreak deny 'incident#guardduty#123456789012#us-east-1#f'",
        ] {
            assert!(n.text.contains(expected), "{expected}: {}", n.text);
        }
        assert_eq!(n.attributes.get("action").map(String::as_str), Some("awaiting_approval"));
    }
}
