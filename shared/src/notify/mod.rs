//! Rendering a report into a notification: subject, text, JSON, attributes. Event text is
//! attacker-influenced, so everything taken from an event is sanitised here.

use crate::incident::{Incident, IncidentKind};
use crate::ports::Notification;
use crate::report::{Outcome, Report};
use std::collections::BTreeMap;

/// SNS rejects subjects over 100 characters, with line breaks or non-printable characters.
pub const MAX_SUBJECT: usize = 100;
const MAX_FIELD: usize = 512;

/// Control characters out, chat mark-up neutralised, length capped.
pub fn sanitise(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        let replacement = match c {
            '<' => "‹",
            '>' => "›",
            '&' => "+",
            c if c.is_control() => " ",
            _ => "",
        };
        if replacement.is_empty() {
            out.push(c);
        } else {
            out.push_str(replacement);
        }
        if out.chars().count() >= max {
            out.push('…');
            break;
        }
    }
    out
}

/// Printable ASCII only, one line, at most [`MAX_SUBJECT`] characters.
pub fn subject(report: &Report) -> String {
    let raw = format!("[{}] {}", report.severity.as_str(), report.summary);
    let mut ascii: String = raw
        .chars()
        .map(|c| match c {
            '<' | '>' => '_',
            '&' => '+',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect();
    ascii = ascii.split_whitespace().collect::<Vec<_>>().join(" ");
    if ascii.len() > MAX_SUBJECT {
        ascii.truncate(MAX_SUBJECT - 3);
        ascii.push_str("...");
    }
    ascii
}

fn outcome_line(action: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done { detail } => format!("- {action}: done — {}", sanitise(detail, MAX_FIELD)),
        Outcome::Skipped { reason } => format!("- {action}: skipped — {}", sanitise(reason, MAX_FIELD)),
        Outcome::Failed { error } => format!("- {action}: FAILED — {}", sanitise(error, MAX_FIELD)),
    }
}

/// The notification for one incident, after its actions ran.
pub fn render(report: &Report, incident: &Incident, dry_run: bool) -> Notification {
    let mut text = vec![sanitise(&report.summary, MAX_FIELD), String::new()];
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
    text.push(String::new());
    text.push("What Firebreak did:".into());
    text.extend(report.actions.iter().filter(|a| a.action != "notify").map(|a| outcome_line(a.action, &a.outcome)));
    if let IncidentKind::Guardduty(f) = &incident.kind {
        if report.decision == crate::plan::Decision::Contain {
            if let Some(id) = &f.instance_id {
                text.push(String::new());
                text.push("Next steps:".into());
                text.push(format!("- Inspect the evidence: aws ec2 describe-snapshots --owner-ids self --filters Name=tag:firebreak:incident,Values={}", f.finding_id));
                text.push(format!("- After the investigation, end the quarantine: firebreak release {id}"));
            }
        }
    }
    let action = if report.outcome_done("isolate_instance") {
        "isolated"
    } else if report.outcome_done("stop_instance") {
        "stopped"
    } else if report.outcome_done("revoke_security_group_ingress") {
        "revoked"
    } else {
        "notified"
    };
    let mut attributes = BTreeMap::new();
    attributes.insert("severity".to_owned(), report.severity.as_str().to_owned());
    attributes.insert("kind".to_owned(), report.kind.to_owned());
    attributes.insert("action".to_owned(), action.to_owned());
    attributes.insert("dry_run".to_owned(), dry_run.to_string());
    if let Some(account) = &incident.origin.account {
        attributes.insert("account".to_owned(), account.to_string());
    }
    if let Some(region) = &incident.origin.region {
        attributes.insert("region".to_owned(), region.to_string());
    }
    let text = text.join("\n");
    let json = serde_json::json!({
        "schema": "firebreak.report/v1",
        "subject": subject(report),
        "report": sanitised_report(report),
        "account": incident.origin.account,
        "region": incident.origin.region,
        "dry_run": dry_run,
        "text": text,
    });
    Notification { subject: subject(report), text, json: json.to_string(), attributes }
}

/// What a responder needs to judge the incident, per kind; every value from the event is sanitised.
fn incident_details(incident: &Incident) -> Vec<String> {
    let clean = |s: &str| sanitise(s, MAX_FIELD);
    let mut lines = Vec::new();
    match &incident.kind {
        IncidentKind::Guardduty(f) => {
            lines.push(format!("Finding: {} ({})", clean(&f.finding_type), clean(&f.finding_id)));
            lines.push(format!("Title: {}", clean(&f.title)));
            lines.push(format!("GuardDuty severity: {} · resource type {} · seen {} time(s)", f.severity, clean(&f.resource_type), f.count));
            if let Some(id) = &f.instance_id {
                let name = f.instance_name.as_deref().map(|n| format!(" ({})", clean(n))).unwrap_or_default();
                lines.push(format!("Instance: {id}{name}"));
            }
            if f.sample {
                lines.push("This is a SAMPLE finding (generated by GuardDuty for testing); nothing was contained.".into());
            }
        }
        IncidentKind::Alarm(a) => {
            let previous = a.previous_state.map(|s| s.as_str()).unwrap_or("?");
            lines.push(format!("Alarm: {} ({} -> {})", clean(&a.alarm_name), previous, a.state.as_str()));
            if let Some(d) = &a.description {
                lines.push(format!("Description: {}", clean(d)));
            }
            lines.push(format!("Reason: {}", clean(&a.reason)));
            for m in &a.metrics {
                let dims: Vec<String> = m.dimensions.iter().map(|(k, v)| format!("{}={}", clean(k), clean(v))).collect();
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
            lines.push(format!("Event: {} from {} at {}", clean(&e.event_name), clean(&e.event_source), clean(&e.event_time)));
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

impl Report {
    fn outcome_done(&self, action: &str) -> bool {
        self.outcome_of(action).is_some_and(Outcome::is_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::SeverityLabel;
    use crate::plan::Decision;

    fn report(summary: &str) -> Report {
        Report {
            incident_key: "k".into(),
            kind: "guardduty",
            decision: Decision::Notify,
            severity: SeverityLabel::High,
            summary: summary.into(),
            reasons: vec!["r".into()],
            actions: vec![],
        }
    }

    #[test]
    fn subject_is_printable_ascii_one_line_and_at_most_100_characters() {
        let s = subject(&report(&format!("GuardDuty Backdoor:EC2/C&CActivity.B on i-0abc (prod-web-3)\n{}", "é".repeat(200))));
        assert!(s.len() <= MAX_SUBJECT);
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s}");
        assert!(s.starts_with("[HIGH] GuardDuty Backdoor:EC2/C+CActivity.B on i-0abc (prod-web-3)"), "{s}");
    }

    #[test]
    fn chat_markup_from_event_text_is_neutralised() {
        let clean = sanitise("<!channel> see <https://evil.example|here> & \u{7}bell", 512);
        assert!(!clean.contains('<') && !clean.contains('>') && !clean.contains('&') && !clean.contains('\u{7}'), "{clean}");
    }
}
