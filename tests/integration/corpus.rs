//! Every payload of the team corpus (`../shared/corpus`, wrapped by its `wrap.py`) parses and gets a plan.
//! Skips, saying so, when the corpus or python3 is absent (a clone of the repo alone).

use crate::support::{firebreak, repo_root};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Wrapped once per test run; the tests share the folder.
fn wrapped_corpus() -> Option<Vec<PathBuf>> {
    static WRAPPED: OnceLock<Option<Vec<PathBuf>>> = OnceLock::new();
    WRAPPED.get_or_init(wrap_corpus).clone()
}

fn wrap_corpus() -> Option<Vec<PathBuf>> {
    let corpus = repo_root().join("../shared/corpus");
    if !corpus.join("wrap.py").exists() {
        eprintln!("skipped: {} is absent", corpus.display());
        return None;
    }
    let out = std::env::temp_dir().join(format!("firebreak-corpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut inputs: Vec<PathBuf> = Vec::new();
    for kind in ["guardduty", "cloudwatch-alarm", "cloudtrail"] {
        for entry in std::fs::read_dir(corpus.join(kind)).expect("corpus folder").flatten() {
            inputs.push(entry.path());
        }
    }
    assert_eq!(inputs.len(), 42, "the corpus holds 42 payloads");
    let status = Command::new("python3").arg(corpus.join("wrap.py")).arg("--out").arg(&out).args(&inputs).status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            eprintln!("skipped: python3 wrap.py did not run ({other:?})");
            return None;
        }
    }
    let mut wrapped: Vec<PathBuf> = std::fs::read_dir(&out).expect("wrapped").flatten().map(|e| e.path()).collect();
    wrapped.sort();
    Some(wrapped)
}

#[test]
fn every_corpus_payload_parses_and_gets_a_plan() {
    let Some(files) = wrapped_corpus() else { return };
    let mut planned = 0;
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let (code, out, err) = firebreak(&["plan", file.to_str().expect("utf-8 path")], b"");
        if name.starts_with("partial-envelope-") {
            assert_eq!(code, 2, "{name}: the partial envelope is refused");
            assert!(err.contains(&name) && err.contains("payload"), "{name}: {err}");
            continue;
        }
        assert_eq!(code, 0, "{name}: {err}");
        let doc: Value = serde_json::from_str(out.trim()).expect("one JSON document");
        let plans = doc["plans"].as_array().expect("plans");
        assert!(!plans.is_empty(), "{name}");
        for plan in plans {
            assert!(!plan["reasons"].as_array().expect("reasons").is_empty(), "{name}: every plan has a reason");
        }
        planned += 1;
    }
    assert_eq!(planned, files.len() - 1, "every wrapped payload but the partial one is planned");
}

#[test]
fn two_sns_records_are_two_incidents() {
    let Some(files) = wrapped_corpus() else { return };
    let file = files.iter().find(|f| f.to_string_lossy().contains("two-records")).expect("two-records fixture");
    let (code, out, _) = firebreak(&["plan", file.to_str().expect("utf-8")], b"");
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(doc["plans"].as_array().map(Vec::len), Some(2));
}

#[test]
fn corpus_decisions_match_what_each_payload_is() {
    let Some(files) = wrapped_corpus() else { return };
    let decision = |stem: &str| -> (String, Vec<String>) {
        let file = files.iter().find(|f| f.file_stem().is_some_and(|s| s == stem)).unwrap_or_else(|| panic!("{stem}"));
        let (_, out, err) = firebreak(&["plan", file.to_str().expect("utf-8")], b"");
        let doc: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{stem}: {err}"));
        let plan = &doc["plans"][0];
        let actions = plan["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| a["action"].as_str().unwrap_or("").to_owned())
            .collect();
        (plan["decision"].as_str().unwrap_or("").to_owned(), actions)
    };
    assert_eq!(
        decision("eb-backdoor-ec2-cc-activity-b-dns-sample-custodian").0,
        "notify",
        "a sample is never contained"
    );
    assert_eq!(decision("detail-pentest-s3-parrotlinux-sample").0, "ignore", "archived");
    assert_eq!(decision("eb-recon-ec2-portprobe-unprotected-port-real-2018").0, "ignore", "severity 2");
    assert_eq!(decision("eventbridge-config-change-metric-alarm-update").0, "ignore");
    assert_eq!(decision("sns-http-notification-anomaly-band-alarm-to-ok-seoul").0, "ignore", "OK never acts");
    assert_eq!(decision("eventbridge-state-change-single-metric-ok-to-alarm").0, "notify", "high CPU");
    assert_eq!(decision("record-organizations-attachpolicy-scp-failed").0, "ignore", "failed call");
    let (d, actions) = decision("eb-api-call-ec2-authorize-sg-ingress-0.0.0.0-and-ipv6");
    assert_eq!(
        (d.as_str(), actions),
        ("revoke", vec!["revoke_security_group_ingress".to_owned(), "notify".to_owned()])
    );
    assert_eq!(decision("record-consolelogin-root-no-mfa").0, "notify");
    assert_eq!(decision("record-kms-disablekey").0, "notify");
    assert_eq!(decision("eb-api-call-cloudtrail-stoplogging").0, "notify");
}
