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

    // The block of the finding's domain outlived the release; unblocking it is its own command.
    assert_eq!(blocked(&world).await, ["*.c2.example.invalid.", "c2.example.invalid."], "as DNS Firewall answers them");
    let (code, out, err) = run(&world, &["unblock", "C2.Example.Invalid."]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(
        (doc["action"].as_str(), doc["outcome"]["status"].as_str()),
        (Some("unblock_domain"), Some("done")),
        "{doc}"
    );
    assert!(blocked(&world).await.is_empty(), "taken off the list");
    let (code, out, _) = run(&world, &["unblock", "c2.example.invalid"]);
    assert!(
        code == 0 && out.contains("\"skipped\"") && out.contains("is not on Firebreak's DNS Firewall list"),
        "{out}"
    );
    let (code, _, err) = run(&world, &["unblock", "amazonaws.com"]);
    assert!(code == 2 && err.contains("Firebreak never blocks it"), "{err}");
    let _ = std::fs::remove_file(file);
}

/// Every name on the DNS Firewall domain list Firebreak recorded for the world's account and region.
async fn blocked(world: &World) -> Vec<String> {
    let recorded = world.state_item("group#123456789012#us-east-1#dns-firewall").await.expect("recorded firewall");
    let both = recorded.get("group_id").and_then(|v| v.as_s().ok()).expect("list and rule group");
    let list = both.split(' ').next().expect("list id");
    let resolver = aws_sdk_route53resolver::Client::new(&world.sdk);
    let listed = resolver.list_firewall_domains().firewall_domain_list_id(list).send().await.expect("domains");
    let mut names = listed.domains().to_vec();
    names.sort();
    names
}

/// `firebreak sweep` runs the queue of held-back containments as the schedule does: a containment the
/// cap held back in the previous hour is contained now, with no new delivery.
#[tokio::test(flavor = "current_thread")]
async fn sweep_contains_what_the_cap_held_back_in_an_earlier_hour() {
    let world = World::seed().await;
    let (busy, victim) = (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    let cap = [("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "1")];
    let last_hour = firebreak::clock::Clock::starting_at(std::time::Duration::from_secs(
        firebreak::clock::Clock::system().now().epoch / 3600 * 3600 - 1800,
    ));
    for (id, finding_id) in [(&busy, "sweep-busy"), (&victim, "sweep-victim")] {
        world.respond_at(crate::support::finding(id, finding_id), &cap, last_hour.clone()).await.expect("state usable");
    }
    let before = world.interface_groups(&victim).await;
    let (code, out, err) = run_with(&world, &["sweep"], &cap);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let held = doc["held"].as_array().expect("what the sweep did with the queue");
    assert_eq!(held.len(), 1, "{doc}");
    assert!(held[0]["key"].as_str().is_some_and(|k| k.ends_with("sweep-victim")), "{doc}");
    assert_ne!(world.interface_groups(&victim).await, before, "contained by the sweep");
}

/// An operator's answer is recorded with who AWS says is calling (`GetCallerIdentity`), never with
/// `$USER`, which anyone can set (issue #44).
#[tokio::test(flavor = "current_thread")]
async fn an_operators_answer_is_recorded_with_the_callers_identity_not_user() {
    let approvals = crate::approval::Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let victim = world.launch(false, false).await.instance_id;
    approvals.ask(&victim, "finding-cli-deny", firebreak::clock::Clock::system()).await;
    let key = "incident#guardduty#123456789012#us-east-1#finding-cli-deny";
    let (code, _, err) = run_with(world, &["deny", key], &approvals.extra());
    assert_eq!(code, 0, "{err}");
    let item = world.state_item(&format!("approval#{key}")).await.expect("the request");
    let decided: Value = serde_json::from_str(item["decided"].as_s().expect("decided")).expect("json");
    let user = decided["user"].as_str().expect("the approver");
    assert!(user.starts_with("arn:aws:") && user != "oncall", "{decided}");
}
