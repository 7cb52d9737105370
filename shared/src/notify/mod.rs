//! Rendering a report into one notification: a subject SNS accepts, readable text for people, the
//! versioned JSON report for machines, optionally the AWS Chatbot document, and filterable attributes.
//! Event text is attacker-influenced, so everything taken from an event is sanitised here.

mod links;
mod sanitise;

pub use links::links;
pub use sanitise::{ascii_line, sanitise, MAX_FIELD};

use crate::incident::{Incident, IncidentKind};
use crate::plan::Decision;
use crate::ports::Notification;
use crate::report::{Outcome, Report};
use serde_json::json;
use std::collections::BTreeMap;

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

fn outcome_line(action: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { detail } => format!("- {action}: done - {}", sanitise(detail, MAX_FIELD)),
        Outcome::Skipped { reason } => format!("- {action}: not done - {}", sanitise(reason, MAX_FIELD)),
        Outcome::Failed { error } => format!("- {action}: FAILED - {}", sanitise(error, MAX_FIELD)),
    }
}

/// The one word subscribers filter on: what Firebreak did.
fn action_attribute(report: &Report) -> &'static str {
    let done = |a: &str| report.outcome_of(a).is_some_and(Outcome::is_done);
    if done("isolate_instance") {
        "isolated"
    } else if done("stop_instance") {
        "stopped"
    } else if done("revoke_security_group_ingress") {
        "revoked"
    } else {
        "notified"
    }
}

fn next_steps(report: &Report, incident: &Incident) -> Vec<String> {
    let mut steps = Vec::new();
    match &incident.kind {
        IncidentKind::Guardduty(f) if report.decision == Decision::Contain => {
            if let Some(id) = &f.instance_id {
                steps.push(format!(
                    "Inspect the evidence: aws ec2 describe-snapshots --owner-ids self --filters Name=tag:firebreak:incident,Values={}",
                    sanitise(&f.finding_id, 64)
                ));
                steps.push(format!("Investigate {id} in isolation: it has no network access; its snapshots can be attached to a forensic instance."));
                steps.push(format!("When the investigation is over, end the quarantine: firebreak release {id}"));
            }
        }
        IncidentKind::Guardduty(f) if f.sample => {
            steps.push("Nothing to do: GuardDuty generated this sample finding for testing.".into())
        }
        IncidentKind::Alarm(_) if report.decision == Decision::StopIdle => {
            steps.push("If the instance is needed, start it again and tag it with the exemption tag so it is not stopped next time.".into());
        }
        IncidentKind::Cloudtrail(_) => {
            steps.push("Confirm with the principal that the call was intended; if not, rotate its credentials and review its other recent calls in CloudTrail.".into());
        }
        _ => {}
    }
    if !report.failures().is_empty() {
        steps.insert(0, "Some steps FAILED (see above): Firebreak returns an error so the event is retried; check again after the retry.".into());
    }
    steps
}

/// The notification for one incident, after its actions ran.
pub fn render(report: &Report, incident: &Incident, how: Rendering) -> Notification {
    let links = links(incident);
    let steps = next_steps(report, incident);
    let mut text = vec![sanitise(&report.summary, MAX_FIELD)];
    if how.dry_run {
        text.push("DRY RUN: nothing was changed; outcomes say what would have been done.".into());
    }
    text.push(String::new());
    if let Some(account) = &incident.origin.account {
        text.push(format!("Account: {account}"));
    }
    if let Some(region) = &incident.origin.region {
        text.push(format!("Region: {region}"));
    }
    text.push(format!("Severity: {}", report.severity.as_str()));
    text.extend(incident_details(incident));
    text.push(String::new());
    text.push("Why:".into());
    text.extend(report.reasons.iter().map(|r| format!("- {}", sanitise(r, MAX_FIELD))));
    let acted: Vec<String> =
        report.actions.iter().filter(|a| a.action != "notify").map(|a| outcome_line(a.action, &a.outcome)).collect();
    if !acted.is_empty() {
        text.push(String::new());
        text.push("What Firebreak did, and did not do:".into());
        text.extend(acted);
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
        ("kind".to_owned(), report.kind.to_owned()),
        ("action".to_owned(), action.to_owned()),
        ("dry_run".to_owned(), how.dry_run.to_string()),
    ]);
    if let Some(account) = &incident.origin.account {
        attributes.insert("account".to_owned(), account.to_string());
    }
    if let Some(region) = &incident.origin.region {
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
        "account": incident.origin.account,
        "region": incident.origin.region,
        "report": sanitised_report(report),
        "next_steps": steps,
        "links": links.iter().map(|(label, url)| json!({"label": label, "url": url})).collect::<Vec<_>>(),
        "text": text,
    });
    let chat = how.chatbot.then(|| chatbot(report, &subject, &text, &steps, &links, incident).to_string());
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
    incident: &Incident,
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
                "account": incident.origin.account.as_ref().map(|a| a.to_string()).unwrap_or_default(),
                "region": incident.origin.region.as_ref().map(|r| r.to_string()).unwrap_or_default(),
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
                f.severity,
                clean(&f.resource_type),
                f.count
            ));
            if let Some(id) = &f.instance_id {
                let name = f.instance_name.as_deref().map(|n| format!(" ({})", clean(n))).unwrap_or_default();
                lines.push(format!("Instance: {id}{name}"));
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
        IncidentKind::Recognised { detail_type, .. } => lines.push(format!("Event: {}", clean(detail_type))),
    }
    lines
}

fn sanitised_report(report: &Report) -> Report {
    let mut clean = report.clone();
    clean.summary = sanitise(&clean.summary, MAX_FIELD);
    clean.incident_key = sanitise(&clean.incident_key, MAX_FIELD);
    clean.reasons = clean.reasons.iter().map(|r| sanitise(r, MAX_FIELD)).collect();
    for a in &mut clean.actions {
        a.outcome = match &a.outcome {
            Outcome::Done { detail } => Outcome::done(sanitise(detail, MAX_FIELD)),
            Outcome::Skipped { reason } => Outcome::skipped(sanitise(reason, MAX_FIELD)),
            Outcome::Failed { error } => Outcome::failed(sanitise(error, MAX_FIELD)),
        };
    }
    clean
}

#[cfg(test)]
mod golden;
