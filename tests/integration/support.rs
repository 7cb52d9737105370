//! Paths and helpers shared by the integration tests.

use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn sample_event(name: &str) -> PathBuf {
    repo_root().join("events").join(name)
}

/// The sample event `events/<name>`, as JSON.
pub fn sample_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(sample_event(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The sample high-severity EC2 finding, about `instance_id`, with the finding id `finding_id`.
pub fn finding(instance_id: &str, finding_id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(sample_event("guardduty/ec2-backdoor-high-severity.json")).expect("sample");
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("json");
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = serde_json::Value::from(instance_id);
    event["detail"]["id"] = serde_json::Value::from(finding_id);
    event
}

/// The sample EC2 instance-group attack sequence, naming `direct` as an `EC2_INSTANCE` resource and
/// `grouped` through its Auto Scaling group (and nothing through its instance profile).
pub fn attack_sequence(direct: &str, grouped: &[&str]) -> serde_json::Value {
    let text =
        std::fs::read_to_string(sample_event("guardduty/attack-sequence-ec2-instance-group.json")).expect("sample");
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("json");
    let resources = &mut event["detail"]["service"]["detection"]["sequence"]["resources"];
    resources[0]["uid"] = serde_json::Value::from(direct);
    resources[1]["data"]["autoscalingAutoScalingGroup"]["ec2InstanceUids"] = serde_json::json!(grouped);
    resources[2]["data"]["iamInstanceProfile"]["ec2InstanceUids"] = serde_json::json!([]);
    event
}

/// The sample Runtime Monitoring finding on ECS, about the task `task_arn` of `cluster_arn`.
pub fn ecs_runtime_finding(cluster_arn: &str, task_arn: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(sample_event("guardduty/runtime-ecs-cryptominer.json")).expect("sample");
    let mut event: serde_json::Value = serde_json::from_str(&text).expect("json");
    let details = &mut event["detail"]["resource"]["ecsClusterDetails"];
    details["arn"] = serde_json::Value::from(cluster_arn);
    details["taskDetails"]["arn"] = serde_json::Value::from(task_arn);
    event
}

/// Run `firebreak` with `args` and no environment; returns (exit code, stdout, stderr).
pub fn firebreak(args: &[&str], stdin: &[u8]) -> (u8, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = firebreak::cli::run(&args, |_| None, &mut &stdin[..], &mut out, &mut err);
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

/// `firebreak release` as the CLI runs it: where the records say the instance is.
pub async fn release(
    responder: &firebreak::lambda::AwsResponder,
    id: &firebreak::incident::InstanceId,
) -> Result<firebreak::report::Report, firebreak::Error> {
    firebreak::playbooks::release(&responder.targets, &responder.notifier, &responder.state, id).await
}

/// The real `firebreak` binary (with the AWS SDK), built once by the cargo running these tests.
pub fn firebreak_binary() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "-q", "-p", "firebreak", "--features", "aws", "--bin", "firebreak"])
                .current_dir(repo_root())
                .status();
            assert!(status.is_ok_and(|s| s.success()), "cargo build of the firebreak binary");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| repo_root().join("target"));
            target.join("debug/firebreak")
        })
        .clone()
}

/// Decide and act on the one incident of `event` with `responder`, as the Lambda handler does.
pub async fn respond_to(
    responder: &firebreak::lambda::AwsResponder,
    event: serde_json::Value,
) -> firebreak::report::Report {
    let clock = firebreak::clock::Clock::system();
    let incident = firebreak::lambda::incidents_of(event, &responder.config).expect("parses").remove(0);
    let now = clock.now().epoch;
    let plan = firebreak::playbooks::decide_with_state(&responder.state, &responder.config.policy, incident, now).await;
    Box::pin(responder.respond(&plan, &clock, now + 900)).await.expect("state table usable")
}
