//! The `firebreak plan` contract other tools rely on: one JSON line per file, exit 0/2, errors that
//! name the file and the field.

use crate::support::{firebreak, sample_event};
use serde_json::Value;

fn path(name: &str) -> String {
    sample_event(name).to_string_lossy().into_owned()
}

#[test]
fn plan_prints_one_json_document_per_file_with_instance_scoped_actions() {
    let (code, out, err) =
        firebreak(&["plan", &path("guardduty/ec2-backdoor-high-severity.json"), &path("alarm/idle-cpu-sns.json")], b"");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let contain: Value = serde_json::from_str(lines[0]).expect("json");
    let actions = contain["actions"].as_array().expect("actions");
    // Out of Auto Scaling's hands first, then the network.
    assert_eq!(actions[0]["action"], "detach_from_auto_scaling_group");
    assert_eq!(actions[1]["action"], "isolate_instance");
    assert!(actions.iter().filter(|a| a["action"] != "notify").all(|a| a["instance_id"] == "i-0abc1234def567890"));
    assert!(actions.iter().any(|a| a["action"] == "snapshot_volumes"));
    assert!(actions.iter().any(|a| a["action"] == "notify"));
    let stop: Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(stop["actions"][0]["action"], "stop_instance");
}

#[test]
fn plan_reads_standard_input_for_a_dash() {
    let bytes = std::fs::read(sample_event("cloudtrail/sg-open-ssh-to-world.json")).expect("sample");
    let (code, out, _) = firebreak(&["plan", "-"], &bytes);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(doc["actions"][0]["action"], "revoke_security_group_ingress");
}

#[test]
fn an_ignored_event_has_an_empty_action_list_and_a_reason() {
    let stdin = br#"{"detail-type":"CloudWatch Alarm State Change","source":"aws.cloudwatch","account":"123456789012","region":"us-east-1",
        "resources":["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"],"detail":{"alarmName":"a","state":{"value":"OK"}}}"#;
    let (code, out, _) = firebreak(&["plan", "-"], stdin);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(doc["actions"], Value::Array(vec![]));
    assert!(doc["plans"][0]["reasons"][0].as_str().unwrap_or("").starts_with("ignored because"));
}

#[test]
fn refused_input_exits_2_with_one_line_naming_file_and_field() {
    let cases: &[(&[u8], &str)] = &[
        (b"{not json", "payload"),
        (b"", "payload"),
        (br#"{"detail-type":"GuardDuty Finding","detail":{"id":"x","type":"t","severity":"high","resource":{"resourceType":"Instance"}}}"#, "detail.severity"),
        (br#"{"unknown":"shape"}"#, "payload"),
    ];
    for (stdin, field) in cases {
        let (code, out, err) = firebreak(&["plan", "-"], stdin);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("firebreak: -: refused: ") && err.contains(field), "{err}");
    }
}

#[test]
fn a_missing_file_is_refused_but_the_other_files_are_still_planned() {
    let (code, out, err) = firebreak(&["plan", "/nonexistent/event.json", &path("alarm/idle-cpu-sns.json")], b"");
    assert_eq!(code, 2);
    assert_eq!(out.lines().count(), 1);
    assert!(err.contains("/nonexistent/event.json") && err.contains("file"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(firebreak(&[], b"").0, 2);
    assert_eq!(firebreak(&["plan"], b"").0, 2);
    assert_eq!(firebreak(&["explode"], b"").0, 2);
}

/// The real binary, from the repository's root (so file names are as a person types them).
fn binary(args: &[&str], cwd: Option<&std::path::Path>) -> (i32, String, String) {
    let out = std::process::Command::new(crate::support::firebreak_binary())
        .args(args)
        .current_dir(cwd.map_or_else(crate::support::repo_root, std::path::Path::to_path_buf))
        .env_remove("FIREBREAK_TOPIC_ARN")
        .env_remove("FIREBREAK_STATE_TABLE")
        .output()
        .expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn help_on_every_subcommand_exits_0_and_lists_its_flags_exit_codes_and_environment() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--help"],
            &[
                "plan",
                "respond",
                "release",
                "unblock",
                "sweep",
                "incidents",
                "approve",
                "deny",
                "completions",
                "--region",
                "--profile",
                "--table",
                "--topic",
                "Exit codes",
            ],
        ),
        (&["-h"], &["Usage: firebreak"]),
        (&["plan", "--help"], &["<FILE>...", "standard input", "FIREBREAK_", "Exit codes"]),
        (&["respond", "--help"], &["--no-state", "FIREBREAK_TOPIC_ARN", "AWS_REGION (--region)", "Exit codes"]),
        (&["release", "--help"], &["<INSTANCE_ID>", "FIREBREAK_STATE_TABLE", "Exit codes"]),
        (&["unblock", "--help"], &["<DOMAIN>", "FIREBREAK_STATE_TABLE", "Exit codes"]),
        (&["sweep", "--help"], &["held back", "most severe first", "FIREBREAK_STATE_TABLE", "Exit codes"]),
        (&["incidents", "--help"], &["--output <OUTPUT>", "--json", "--limit", "show", "Exit codes"]),
        (&["approve", "--help"], &["<KEY>", "member account", "Exit codes"]),
        (&["deny", "--help"], &["<KEY>", "Exit codes"]),
        (&["completions", "--help"], &["bash", "zsh", "fish"]),
    ];
    for (args, wanted) in cases {
        // No FIREBREAK_TOPIC_ARN set: help never needs configuration.
        let (code, out, err) = binary(args, None);
        assert_eq!(code, 0, "{args:?}: {err}");
        for w in *wanted {
            assert!(out.contains(w), "{args:?} lists {w}: {out}");
        }
    }
}

#[test]
fn version_names_the_crate_version_and_the_commit_it_was_built_from() {
    let (code, out, _) = binary(&["--version"], None);
    assert_eq!(code, 0);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(crate::support::repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    assert_eq!(out.trim(), format!("firebreak {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_typo_exits_2_naming_what_it_did_not_understand() {
    for (args, named) in [
        (&["incidents", "--jsno"][..], "--jsno"),
        (&["plna", "x.json"][..], "plna"),
        (&["incidents", "--output", "yaml"][..], "yaml"),
        (&["incidents", "--limit", "0"][..], "0"),
        (&["plan"][..], "<FILE>"),
        (&[][..], "Usage"),
    ] {
        let (code, out, err) = binary(args, None);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(named), "{args:?} names {named}: {err}");
        assert!(out.is_empty(), "{args:?}: errors go to standard error");
    }
}

#[test]
fn the_plan_output_and_exit_codes_are_unchanged_byte_for_byte() {
    // The golden file is what the hand-parsed command line printed for the same files.
    let golden =
        std::fs::read_to_string(crate::support::repo_root().join("tests/golden/plan-backdoor-and-open-ssh.jsonl"))
            .expect("golden");
    let (code, out, err) = binary(
        &["plan", "events/guardduty/ec2-backdoor-high-severity.json", "events/cloudtrail/sg-open-ssh-to-world.json"],
        None,
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, golden);
    let (code, out, err) = binary(&["plan", "no/such/file.json"], None);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "firebreak: no/such/file.json: refused: file: cannot read: No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_file_whose_name_starts_with_a_dash_is_read_after_double_dash() {
    let dir = std::env::temp_dir().join(format!("firebreak-dash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(sample_event("cloudtrail/sg-open-ssh-to-world.json"), dir.join("-open-ssh.json")).expect("copy");
    let (code, out, err) = binary(&["plan", "--", "-open-ssh.json"], Some(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"file\":\"-open-ssh.json\""), "{out}");
}

#[test]
fn completions_for_three_shells_and_a_manual_page_are_produced_from_the_same_definition() {
    for (shell, marker) in
        [("bash", "complete -F _firebreak"), ("zsh", "#compdef firebreak"), ("fish", "complete -c firebreak")]
    {
        let (code, out, err) = binary(&["completions", shell], None);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker) && out.contains("incidents") && out.contains("no-state"), "{shell}: {out}");
    }
    let (code, man, _) = binary(&["man"], None);
    assert_eq!(code, 0);
    assert!(man.contains(".TH firebreak 1") && man.contains("respond") && man.contains("\\-\\-region"), "{man}");
}
