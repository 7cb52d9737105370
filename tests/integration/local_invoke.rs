//! Every function under the Lambda runtime, locally: `cargo lambda watch` serves the three binaries,
//! `cargo lambda invoke` sends each a sample event, and moto server shows the effect.

use crate::support::{repo_root, sample_event};
use crate::world::{World, TABLE};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};

pub(crate) fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("FIREBREAK_CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/cargo-lambda/bin/cargo-lambda"));
    assert!(path.exists(), "cargo-lambda is not installed ({}): run scripts/test, which installs it", path.display());
    path
}

/// `cargo lambda watch`, in a process group of its own so that nothing it signals reaches the test
/// runner. The functions it spawned exit by themselves once its runtime API is gone.
pub(crate) struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn invoke(port: u16, function: &str, event: &str) -> String {
    let file = std::env::temp_dir().join(format!("firebreak-invoke-{port}-{function}.json"));
    std::fs::write(&file, event).expect("event file");
    let out = Command::new(cargo_lambda())
        .args(["lambda", "invoke", function, "-A", "127.0.0.1", "-P", &port.to_string(), "--data-file"])
        .arg(&file)
        .current_dir(repo_root())
        .output()
        .expect("cargo lambda invoke runs");
    let _ = std::fs::remove_file(file);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{function} failed: {text}");
    text
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(sample_event(name)).expect("sample")
}

#[tokio::test(flavor = "current_thread")]
async fn every_function_runs_under_the_lambda_runtime_against_the_emulator() {
    let world = World::seed().await;
    let compromised = world.launch(false, false).await.instance_id;
    let idle = world.launch(false, false).await.instance_id;
    let exposed = world.exposed_group("exposed").await;

    let env = [
        format!("FIREBREAK_TOPIC_ARN={}", world.topic_arn),
        format!("FIREBREAK_STATE_TABLE={TABLE}"),
        "FIREBREAK_SETTLE_SECONDS=0".into(),
        "FIREBREAK_SECURITY_HUB_WRITE_BACK=off".into(),
    ];
    let (_watch, port) = watch(&world, &env, None);

    let finding = sample("guardduty/ec2-backdoor-high-severity.json").replace("i-0abc1234def567890", &compromised);
    world.guardduty_produced(&serde_json::from_str(&finding).expect("json"));
    let out = invoke(port, "guardduty-responder", &finding);
    assert!(out.contains("isolate_instance"), "{out}");
    let isolation = world.group_by_role("firebreak-isolation").await;
    assert!(world.interface_groups(&compromised).await.iter().all(|(_, g)| *g == isolation), "isolated");

    world.idle_alarm(&idle, 0.3).await;
    invoke(port, "alarm-responder", &sample("alarm/idle-cpu-alarm-action.json").replace("i-0abc1234def567890", &idle));
    assert_eq!(world.instance_state(&idle).await, "stopped");

    invoke(
        port,
        "cloudtrail-responder",
        &sample("cloudtrail/sg-open-ssh-to-world.json").replace("sg-0123456789abcdef0", &exposed),
    );
    let group = world.ec2.describe_security_groups().group_ids(&exposed).send().await.expect("group");
    assert!(group.security_groups()[0].ip_permissions().is_empty(), "the world-open rule is revoked");

    let inspector = sample("securityhub/asff-inspector-ec2-cve.json");
    let notified = invoke(port, "findings-notifier", &inspector);
    assert!(notified.contains("\"decision\":\"notify\""), "{notified}");
    let swept = invoke(port, "containment-sweeper", &sample("approval/scheduled-sweep.json"));
    assert!(swept.contains("\"held\":[]"), "{swept}");

    let refused = invoke(port, "alarm-responder", &finding);
    assert!(refused.contains("refused") && refused.contains("not handled by this function"), "{refused}");
    assert_eq!(world.notifications().await.len(), 4, "one notification per incident");
}

/// Where the output of the watch on `port` goes.
pub(crate) fn watch_log(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("firebreak-watch-{port}.log"))
}

/// A free port for `cargo lambda watch`, below the kernel's ephemeral range (32768 and up by default),
/// where port 0 binds: the port is released before the watch binds it, and meanwhile another test's
/// moto server (bound to port 0) or an outgoing connection could otherwise take it.
pub(crate) fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + u16::try_from(std::process::id() % 500).unwrap_or(0) * 20;
    loop {
        let port = base + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Start `cargo lambda watch` on `port` (or a free one) with the emulator's AWS settings and `env`; returns it
/// (stopped when dropped) and its port once it listens.
pub(crate) fn watch(world: &World, env: &[String], port: Option<u16>) -> (Watch, u16) {
    let port = port.unwrap_or_else(free_port);
    let aws = [
        format!("AWS_ENDPOINT_URL={}", world.endpoint()),
        "AWS_REGION=us-east-1".into(),
        "AWS_ACCESS_KEY_ID=testing".into(),
        "AWS_SECRET_ACCESS_KEY=testing".into(),
        "AWS_EC2_METADATA_DISABLED=true".into(),
    ];
    let mut watch = Command::new(cargo_lambda());
    watch.args(["lambda", "watch", "-A", "127.0.0.1", "-P", &port.to_string()]);
    for pair in aws.iter().chain(env) {
        watch.args(["--env-var", pair]);
    }
    // Its output, for a failing test to read: where the functions' logs and build errors go.
    let log = std::fs::File::create(watch_log(port)).expect("watch log");
    let watch = Watch(
        watch
            .current_dir(repo_root())
            .stdout(log.try_clone().expect("watch log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("cargo lambda watch starts"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "cargo lambda watch did not listen");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    (watch, port)
}
