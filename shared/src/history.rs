//! `firebreak incidents`: what Firebreak did, from the records the state table keeps with each
//! incident's claim. An aligned table for a terminal, JSON lines with `--json`, one incident's timeline
//! with `show KEY`. Every text from an event is sanitised before it reaches the terminal.

use crate::exit::{report, EXIT_FAILED, EXIT_OK, EXIT_REFUSED};
use crate::notify::sanitise;
use crate::ports::StateStore;
use crate::report::StoredIncident;
use std::io::Write;

/// `incidents show KEY`: one incident's timeline.
pub async fn show<S: StateStore>(key: &str, state: &S, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match state.incident(key).await {
        Ok(Some(incident)) => {
            let _ = write!(out, "{}", timeline(&incident));
            EXIT_OK
        }
        Ok(None) => report(err, &format!("firebreak: incidents: no incident {key:?} in the state table"), EXIT_REFUSED),
        Err(e) => report(err, &format!("firebreak: incidents: {e}"), EXIT_FAILED),
    }
}

/// `incidents [--output table|json] [--limit N]`: the most recent `limit`, as a table or JSON lines.
pub async fn list<S: StateStore>(json: bool, limit: usize, state: &S, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match state.incidents(limit).await {
        Ok(incidents) => {
            let text = if json { json_lines(&incidents) } else { table(&incidents) };
            let _ = write!(out, "{text}");
            EXIT_OK
        }
        Err(e) => report(err, &format!("firebreak: incidents: {e}"), EXIT_FAILED),
    }
}

pub fn json_lines(incidents: &[StoredIncident]) -> String {
    incidents.iter().map(|i| format!("{}\n", serde_json::json!(i))).collect()
}

/// The aligned table: time, account, region, kind, decision, subject, status, steps, time to isolation.
pub fn table(incidents: &[StoredIncident]) -> String {
    let header = [
        "TIME (UTC)",
        "ACCOUNT",
        "REGION",
        "KIND",
        "DECISION",
        "STATUS",
        "DONE/FAILED/HELD",
        "ISOLATED IN",
        "SUBJECT",
        "KEY",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for i in incidents {
        let r = &i.record;
        rows.push(vec![
            crate::clock::Now::at(r.started_at).rfc3339,
            r.account.clone().unwrap_or_else(|| "-".into()),
            r.region.clone().unwrap_or_else(|| "-".into()),
            r.kind.clone(),
            r.decision.clone(),
            i.status.clone(),
            format!("{}/{}/{}", r.steps_done, r.steps_failed, r.steps_held),
            r.time_to_isolation_ms.map_or_else(|| "-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
            sanitise(&r.summary, 60),
            sanitise(&i.key, 120),
        ]);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    if incidents.is_empty() {
        text.push_str("(no incidents recorded)\n");
    }
    text
}

/// One incident: what it was, then each step, when, and its outcome.
pub fn timeline(incident: &StoredIncident) -> String {
    let r = &incident.record;
    let mut text = format!(
        "{}\nkey:       {}\nstarted:   {}\nwhere:     {} {}\nkind:      {} ({}), decision {}, status {}\n",
        sanitise(&r.summary, 300),
        sanitise(&incident.key, 300),
        crate::clock::Now::at(r.started_at).rfc3339,
        r.account.as_deref().unwrap_or("-"),
        r.region.as_deref().unwrap_or("-"),
        r.kind,
        r.severity,
        r.decision,
        incident.status
    );
    if let Some(ms) = r.time_to_isolation_ms {
        text.push_str(&format!("isolated:  {:.1} s after the run started\n", ms as f64 / 1000.0));
    }
    text.push_str("steps:\n");
    for entry in &r.timeline {
        let at = entry.at_ms.map_or_else(|| "      -".to_owned(), |ms| format!("{:>6.1}s", ms as f64 / 1000.0));
        let target = entry.target.as_deref().map(|t| format!(" ({})", sanitise(t, 40))).unwrap_or_default();
        text.push_str(&format!(
            "  +{at}  {}{target}: {} - {}\n",
            crate::plan::human_name(&entry.step),
            entry.status,
            sanitise(&entry.detail, 300)
        ));
    }
    for receipt in &r.receipts {
        text.extend(receipt.lines().iter().map(|l| format!("{}\n", sanitise(l, 400))));
    }
    if !incident.later.is_empty() {
        text.push_str("later:\n");
        text.extend(incident.later.iter().map(|l| format!("  {}\n", sanitise(l, 400))));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{IncidentRecord, TimelineEntry};

    fn incident(key: &str, started_at: u64, summary: &str) -> StoredIncident {
        StoredIncident {
            key: key.into(),
            status: "done".into(),
            record: IncidentRecord {
                started_at,
                account: Some("123456789012".into()),
                region: Some("us-east-1".into()),
                kind: "guardduty".into(),
                decision: "contain".into(),
                severity: "HIGH".into(),
                summary: summary.into(),
                steps_done: 6,
                steps_failed: 0,
                steps_held: 0,
                time_to_isolation_ms: Some(1_234),
                timeline: vec![TimelineEntry {
                    at_ms: Some(1_234),
                    step: "isolate_instance".into(),
                    target: None,
                    status: "done".into(),
                    detail: "1 interface(s) isolated".into(),
                }],
                receipts: Vec::new(),
            },
            later: Vec::new(),
        }
    }

    #[test]
    fn the_table_is_aligned_and_event_text_cannot_reach_the_terminal_raw() {
        let hostile = "GuardDuty on i-1\u{1b}[2J\u{7}";
        let text = table(&[incident("incident#a", 1_795_503_374, hostile), incident("incident#b", 1_795_503_300, "x")]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TIME (UTC)"));
        let column = lines[0].find("ACCOUNT").expect("header");
        assert!(lines.iter().skip(1).all(|l| l[column..].starts_with("123456789012")), "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
        assert!(lines[1].contains("1.2 s"));
    }

    #[test]
    fn the_timeline_names_each_step_with_its_time_and_outcome() {
        let text = timeline(&incident("incident#a", 1_795_503_374, "GuardDuty Backdoor on i-1"));
        assert!(text.contains("+   1.2s  Isolate it from the network: done - 1 interface(s) isolated"), "{text}");
        assert!(text.contains("isolated:  1.2 s"));
        assert!(!text.contains("later:"), "nothing happened after the run: {text}");
    }

    #[test]
    fn what_joined_the_incident_later_follows_its_steps() {
        let mut joined = incident("incident#a", 1_795_503_374, "GuardDuty Backdoor on i-1");
        joined.later = vec!["2026-12-03T21:00:00Z malware scan s-1 found Execution:EC2/MaliciousFile\u{1b}[2J".into()];
        let text = timeline(&joined);
        let steps = text.find("Isolate it").expect("steps");
        let later = text.find("later:\n  2026-12-03T21:00:00Z malware scan s-1 found").expect("later");
        assert!(steps < later && !text.contains('\u{1b}'), "{text:?}");
    }
}
