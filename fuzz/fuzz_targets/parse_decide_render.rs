//! Coverage-guided fuzzing of everything an event touches before any AWS call: parse → decide →
//! render. Properties: no panic; every plan explains itself; the subject is one line of at most 100
//! printable ASCII characters; no rendering carries chat mark-up.
#![no_main]

use firebreak::notify::{render, Rendering, MAX_SUBJECT};
use firebreak::report::{Outcome, Report};
use firebreak::{decide, parse_payload, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(incidents) = parse_payload(data) else { return };
    let policy = Policy::default();
    for incident in &incidents {
        let plan = decide(incident, &policy);
        assert!(!plan.reasons.is_empty());
        let mut report = Report::new(&plan);
        for action in &plan.actions {
            report.push(action.step.name(), Outcome::skipped(plan.summary.clone()));
        }
        for how in [Rendering::default(), Rendering { dry_run: true, chatbot: true }] {
            let n = render(&report, &incident.origin, Some(incident), how);
            assert!(n.subject.len() <= MAX_SUBJECT && n.subject.chars().all(|c| c.is_ascii_graphic() || c == ' '));
            for text in [&n.subject, &n.text, &n.json, &n.sms].into_iter().chain(n.chat.as_ref()) {
                assert!(!text.contains('<') && !text.contains('>'), "mark-up in {text}");
            }
            serde_json::from_str::<serde_json::Value>(&n.json).expect("the report is JSON");
        }
    }
});
