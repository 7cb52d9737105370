//! `firebreak respond` and `firebreak release` as a person runs them: the real binary, configured
//! only by the standard AWS environment and `FIREBREAK_*` variables, against moto server.

use crate::support::{firebreak_binary, sample_event};
use crate::world::{World, TABLE};
use serde_json::Value;
use std::process::Command;

fn run(world: &World, args: &[&str]) -> (i32, String, String) {
    run_with(world, args, &[])
}

fn run_with(world: &World, args: &[&str], extra: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(firebreak_binary())
        .args(args)
        .env_clear()
        .env("AWS_ENDPOINT_URL", world.endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("FIREBREAK_TOPIC_ARN", &world.topic_arn)
        .env("FIREBREAK_STATE_TABLE", TABLE)
        .env("FIREBREAK_SETTLE_SECONDS", "0")
        .env("USER", "oncall")
        .envs(extra.iter().copied())
        .output()
        .expect("firebreak runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "current_thread")]
async fn respond_contains_then_release_restores_through_the_command_line() {
    let world = World::seed().await;
    let victim = world.launch(false, false).await;
    let before = world.interface_groups(&victim.instance_id).await;
    let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
    let event = text.replace("i-0abc1234def567890", &victim.instance_id);
    world.guardduty_produced(&serde_json::from_str(&event).expect("json"));
    let file = std::env::temp_dir().join(format!("firebreak-respond-{}.json", victim.instance_id));
    std::fs::write(&file, event).expect("write event");

    let (code, out, err) = run(&world, &["respond", file.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(out.trim()).expect("one JSON report line");
    let actions = doc["reports"][0]["actions"].as_array().expect("actions");
    assert!(actions.iter().all(|a| a["status"] == "done" || a["status"] == "skipped"), "{actions:?}");
    assert!(actions.iter().any(|a| a["action"] == "isolate_instance" && a["status"] == "done"));
    let isolation = world.group_by_role("firebreak-isolation").await;
    assert!(world.interface_groups(&victim.instance_id).await.iter().all(|(_, g)| *g == isolation));

    let (code, out, err) = run(&world, &["release", &victim.instance_id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restore_security_groups"));
    assert_eq!(world.interface_groups(&victim.instance_id).await, before);

    let (code, _, err) = run(&world, &["release", &victim.instance_id]);
    assert_eq!(code, 2, "a second release is refused");
    assert!(err.contains("neither isolated nor revoked by Firebreak"), "{err}");
    let _ = std::fs::remove_file(file);
}

#[tokio::test(flavor = "current_thread")]
async fn respond_refuses_to_start_without_its_topic_and_table() {
    let (code, _, err) = {
        let out = Command::new(firebreak_binary())
            .args(["respond", sample_event("guardduty/ec2-backdoor-high-severity.json").to_str().expect("utf-8")])
            .env_clear()
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, 2);
    assert!(err.contains("FIREBREAK_TOPIC_ARN"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn incidents_lists_what_respond_did_newest_first_and_shows_one_timeline() {
    let world = World::seed().await;
    let mut files = Vec::new();
    for (n, finding) in ["f1000000000000000000000000000001", "f2000000000000000000000000000002"].iter().enumerate() {
        let victim = world.launch(false, false).await;
        let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
        let event = text
            .replace("i-0abc1234def567890", &victim.instance_id)
            .replace("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7", finding);
        world.guardduty_produced(&serde_json::from_str(&event).expect("json"));
        let file = std::env::temp_dir().join(format!("firebreak-incidents-{n}-{}.json", victim.instance_id));
        std::fs::write(&file, event).expect("write event");
        let (code, _, err) = run(&world, &["respond", file.to_str().expect("utf-8")]);
        assert_eq!(code, 0, "{err}");
        files.push(file);
        // Records are ordered by their start second.
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    }

    let (code, out, err) = run(&world, &["incidents"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two incidents: {out}");
    assert!(lines[0].starts_with("TIME (UTC)") && lines[0].contains("ISOLATED IN"), "{out}");
    assert!(lines[1].contains("f2000000000000000000000000000002"), "newest first: {out}");
    assert!(lines[1].contains("contain") && lines[1].contains("done") && lines[1].contains("123456789012"), "{out}");

    let (code, out, err) = run(&world, &["incidents", "--json"]);
    assert_eq!(code, 0, "{err}");
    let first: Value = serde_json::from_str(out.lines().next().expect("a line")).expect("JSON lines");
    assert_eq!(first["status"], "done");
    assert_eq!(first["record"]["decision"], "contain");
    assert!(first["record"]["time_to_isolation_ms"].is_u64(), "{first}");
    let key = first["key"].as_str().expect("key").to_owned();
    // `--output json` is the same as `--json`; and the table and region as flags, with neither the
    // variable nor AWS_REGION set, read the same table.
    let (_, same, _) = run(&world, &["incidents", "--output", "json"]);
    assert_eq!(same, out);
    let (code, flagged, err) = run_with(
        &world,
        &["incidents", "--output", "json", "--table", TABLE, "--region", "us-east-1", "--limit", "1"],
        &[("FIREBREAK_STATE_TABLE", ""), ("AWS_REGION", "")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(flagged.lines().collect::<Vec<_>>(), out.lines().take(1).collect::<Vec<_>>());

    let (code, out, err) = run(&world, &["incidents", "show", &key]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Isolate it from the network: done"), "{out}");
    assert!(out.contains("Tell the team: done - published"), "{out}");
    let (code, _, err) = run(&world, &["incidents", "show", "incident#nothing"]);
    assert_eq!(code, 2, "{err}");
    for file in files {
        let _ = std::fs::remove_file(file);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_operator_approves_or_denies_from_the_terminal_and_each_request_is_answered_once() {
    let approvals = crate::approval::Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let (approved, denied) =
        (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    let system = firebreak::clock::Clock::system;
    approvals.ask(&approved, "finding-cli-approved", system()).await;
    approvals.ask(&denied, "finding-cli-denied", system()).await;
    let key = |id: &str| format!("incident#guardduty#123456789012#us-east-1#{id}");
    let band = [("FIREBREAK_APPROVAL_MIN_SEVERITY", "4.0")];

    // The operator's policy decides again: without the band, severity 5 is only notified.
    let (code, _, err) = run(world, &["approve", &key("finding-cli-approved")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("today's policy decides notify"), "{err}");
    assert!(approvals.untouched(&approved).await);
    assert_eq!(approvals.status("finding-cli-approved").await, "pending");

    let (code, out, err) = run_with(world, &["approve", &key("finding-cli-approved")], &band);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(out.trim()).expect("one JSON report");
    assert_eq!(report["incident_key"], format!("approved#{}", key("finding-cli-approved")));
    assert!(approvals.isolated(&approved).await, "approved from the terminal: isolated");
    let item = world.state_item(&format!("approval#{}", key("finding-cli-approved"))).await.expect("request");
    let by: Value = serde_json::from_str(item["decided"].as_s().expect("decided")).expect("approver");
    assert_eq!((by["via"].as_str(), by["user"].as_str()), (Some("cli"), Some("oncall")), "{by}");

    let (code, out, err) = run_with(world, &["deny", &key("finding-cli-denied")], &band);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(approvals.status("finding-cli-denied").await, "denied");
    assert!(approvals.untouched(&denied).await, "denied: untouched");
    for (verdict, id, answer) in
        [("deny", "finding-cli-denied", "denied"), ("deny", "finding-cli-approved", "approved")]
    {
        let (code, _, err) = run_with(world, &[verdict, &key(id)], &band);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("already {answer}")), "{err}");
    }
    // Approving an approved request again resumes its journal: here, nothing is left to do.
    let (code, out, err) = run_with(world, &["approve", &key("finding-cli-approved")], &band);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("already handled"), "{out}");
    let (code, _, err) = run_with(world, &["approve", "incident#guardduty#123456789012#us-east-1#nothing"], &band);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no request for approval"), "{err}");
}
