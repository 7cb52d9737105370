//! Golden renderings: the subject, text, JSON report and attributes of one incident of each kind are
//! compared with `golden/*.txt`. `FIREBREAK_BLESS=1 cargo test -p firebreak golden` rewrites them
//! after an intended change; review the diff before committing.

use super::{render, Rendering};
use crate::events::parse_value;
use crate::policy::{decide, Policy};
use crate::report::{Outcome, Report};

fn sample(name: &str) -> serde_json::Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).expect("json")
}

/// The report a run with these outcomes would give (outcomes in plan order, `notify` last).
fn report_for(event: serde_json::Value, outcomes: &[(&'static str, Outcome)]) -> (Report, crate::Incident) {
    let incident = parse_value(event).expect("parses").remove(0);
    let plan = decide(&incident, &Policy::default());
    let mut report = Report::new(&plan);
    for (action, outcome) in outcomes {
        report.push(action, outcome.clone());
    }
    report.push("notify", Outcome::done("published"));
    (report, incident)
}

fn check(name: &str, report: &Report, incident: &crate::Incident, how: Rendering) {
    let n = render(report, &incident.origin, Some(incident), how);
    let json: serde_json::Value = serde_json::from_str(&n.json).expect("the report is JSON");
    let attributes: Vec<String> = n.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut rendered = format!(
        "SUBJECT: {}\nSMS: {}\nATTRIBUTES: {}\n--- TEXT\n{}\n--- JSON\n{}\n",
        n.subject,
        n.sms,
        attributes.join(" "),
        n.text,
        serde_json::to_string_pretty(&json).expect("pretty")
    );
    if let Some(chat) = &n.chat {
        let chat: serde_json::Value = serde_json::from_str(chat).expect("chatbot JSON");
        rendered.push_str(&format!("--- CHATBOT\n{}\n", serde_json::to_string_pretty(&chat).expect("pretty")));
    }
    let path = format!("{}/src/notify/golden/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("FIREBREAK_BLESS").is_some() {
        std::fs::write(&path, &rendered).expect("write golden");
        return;
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (FIREBREAK_BLESS=1 writes it)"));
    assert_eq!(rendered, golden, "{name} differs from {path}");
}

fn done(detail: &str) -> Outcome {
    Outcome::done(detail)
}

#[test]
fn isolation() {
    let (report, incident) = report_for(
        sample("guardduty/ec2-backdoor-high-severity.json"),
        &[
            ("isolate_instance", done("1 interface(s) isolated with sg-0f00000000000000a (connections untracked via sg-0f00000000000000b first): eni-0a1b2c3d4e5f60718")),
            ("protect_instance", done("termination protection on, shutdown behaviour stop")),
            ("detach_from_auto_scaling_group", Outcome::skipped("not in an Auto Scaling group")),
            ("deregister_from_target_groups", done("deregistered from arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef")),
            ("snapshot_volumes", done("2 snapshot(s): snap-0a0000000000000001, snap-0a0000000000000002")),
            ("tag_instance", done("tagged firebreak:finding-type, firebreak:incident, firebreak:quarantined, firebreak:severity")),
        ],
    );
    check("isolation", &report, &incident, Rendering::default());
}

#[test]
fn idle_stop() {
    let (report, incident) = report_for(
        sample("alarm/idle-cpu-eventbridge.json"),
        &[("stop_instance", done("i-0abc1234def567890 stopped and tagged"))],
    );
    check("idle-stop", &report, &incident, Rendering::default());
}

#[test]
fn attack_alarm() {
    let (report, incident) = report_for(sample("alarm/nat-connection-surge-sns.json"), &[]);
    check("attack-alarm", &report, &incident, Rendering::default());
}

#[test]
fn cloudtrail_detection() {
    let (report, incident) = report_for(
        sample("cloudtrail/sg-open-ssh-to-world.json"),
        &[(
            "revoke_security_group_ingress",
            done("revoked tcp/22 from 0.0.0.0/0 (sgr-0aaaaaaaaaaaaaaa1) on sg-0123456789abcdef0"),
        )],
    );
    check("cloudtrail-detection", &report, &incident, Rendering::default());
}

#[test]
fn sample_finding() {
    let (report, incident) = report_for(sample("guardduty/ec2-sample-finding.json"), &[]);
    check("sample-finding", &report, &incident, Rendering::default());
}

#[test]
fn exempt_instance() {
    let why = "i-0abc1234def567890 carries the exemption tag firebreak:exempt=bastion";
    let steps = [
        "isolate_instance",
        "protect_instance",
        "detach_from_auto_scaling_group",
        "deregister_from_target_groups",
        "snapshot_volumes",
        "tag_instance",
    ];
    let outcomes: Vec<(&'static str, Outcome)> = steps.iter().map(|s| (*s, Outcome::skipped(why))).collect();
    let (report, incident) = report_for(sample("guardduty/ec2-backdoor-high-severity.json"), &outcomes);
    check("exempt-instance", &report, &incident, Rendering::default());
}

#[test]
fn dry_run_in_chatbot_format() {
    let (report, incident) = report_for(
        sample("alarm/idle-cpu-sns.json"),
        &[("stop_instance", Outcome::skipped("dry run: would have done this: i-0abc1234def567890 stopped and tagged"))],
    );
    check("dry-run-chatbot", &report, &incident, Rendering { dry_run: true, chatbot: true });
}

#[test]
fn hostile_event_text_is_inert_in_every_rendering() {
    let mut event = sample("guardduty/ec2-backdoor-high-severity.json");
    event["detail"]["title"] = serde_json::json!("<!channel> urgent <https://evil.example|click> &lt;b&gt;\u{1b}[31m");
    event["detail"]["type"] = serde_json::json!("Backdoor:EC2/<!here>");
    event["detail"]["resource"]["instanceDetails"]["tags"] =
        serde_json::json!([{"key": "Name", "value": "<@U0123> & <!everyone>"}]);
    let (report, incident) = report_for(event, &[]);
    let n = render(&report, &incident.origin, Some(&incident), Rendering { dry_run: false, chatbot: true });
    for (what, text) in
        [("subject", &n.subject), ("text", &n.text), ("json", &n.json), ("chat", n.chat.as_ref().expect("chat"))]
    {
        for markup in ["<!channel>", "<!here>", "<!everyone>", "<@U0123>", "<https://", "&lt;", "\u{1b}"] {
            assert!(!text.contains(markup), "{what} contains {markup:?}: {text}");
        }
    }
}
