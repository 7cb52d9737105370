//! Human approval, end to end: the GuardDuty responder asks, the approval function (under
//! `cargo lambda watch`, driven over HTTP as a browser would) answers, and moto shows the world after.
//! Approve → isolated; deny → untouched; replayed, expired, tampered and wrong-incident tokens →
//! refused with nothing changed; a GET alone changes nothing; a redelivery asks nothing new.

use crate::local_invoke::{invoke, watch};
use crate::support::finding;
use crate::world::{World, TABLE};
use serde_json::Value;
use std::io::{Read, Write};

/// The approval key, as Secrets Manager would hold it (64 characters, no punctuation).
pub(crate) const KEY: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";
/// A contain-worthy finding below the automatic threshold (7.0): inside the approval band.
pub const BAND_SEVERITY: f64 = 5.0;

/// One HTTP request; returns the status and the body.
pub(crate) fn http(method: &str, url: &str, form: Option<&str>) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).expect("the approval function listens");
    let body = form.unwrap_or_default();
    // HTTP/1.0 closes after the response without a `Connection: close` header, which `cargo lambda watch`
    // would pass on to the function's runtime connection (the function then loses that connection).
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: firebreak-tests\r\n");
    if form.is_some() {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_owned() };
    (status, body)
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The first line of the watch's output (the functions' stdout and stderr) that contains `needle`,
/// waiting a little for it: the watch relays the output as it comes.
fn logged(port: u16, needle: &str) -> String {
    let log = crate::local_invoke::watch_log(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "{needle} never appeared in {}", log.display());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The token a link carries.
fn token(link: &str) -> String {
    link.split_once("token=").map(|(_, t)| t.to_owned()).expect("a token in the link")
}

/// Where a link's form posts: the link without its query.
fn action(link: &str) -> String {
    link.split_once('?').map(|(base, _)| base.to_owned()).expect("a query in the link")
}

pub(crate) struct Approvals {
    pub world: World,
    pub url: String,
    pub env: Vec<(String, String)>,
}

impl Approvals {
    /// A world with the approval key in Secrets Manager and the approval band set from 4.0.
    pub async fn seed(port: u16) -> Self {
        let world = World::seed().await;
        let secret = world.secret("firebreak-approval-key", KEY).await;
        let url = format!("http://127.0.0.1:{port}/lambda-url/approval-responder");
        let env = vec![
            ("FIREBREAK_APPROVAL_MIN_SEVERITY".to_owned(), "4.0".to_owned()),
            ("FIREBREAK_APPROVAL_SECRET_ARN".to_owned(), secret),
            ("FIREBREAK_APPROVAL_URL".to_owned(), url.clone()),
        ];
        Self { world, url, env }
    }

    pub fn extra(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// The responders' settings and `more`.
    pub fn extra_with<'a>(&'a self, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut extra = self.extra();
        extra.extend_from_slice(more);
        extra
    }

    /// The functions' environment under `cargo lambda watch` on `port`: the responders' settings, and
    /// for the approval function the GuardDuty responder of the same watch to invoke (its Lambda API).
    pub fn function_env(&self, port: u16) -> Vec<String> {
        let mut env = vec![
            format!("FIREBREAK_TOPIC_ARN={}", self.world.topic_arn),
            format!("FIREBREAK_STATE_TABLE={TABLE}"),
            "FIREBREAK_SETTLE_SECONDS=0".to_owned(),
            "FIREBREAK_CONTAINMENT_FUNCTION=guardduty-responder".to_owned(),
            format!("AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:{port}"),
        ];
        env.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        env
    }

    /// Deliver a band-severity finding about `instance` at `clock`; returns the links it notified.
    pub async fn ask(&self, instance: &str, finding_id: &str, clock: firebreak::clock::Clock) -> (String, String) {
        let body = self.ask_body(instance, finding_id, clock).await;
        let links = &body["report"]["approval"];
        (links["approve"].as_str().expect("approve").to_owned(), links["deny"].as_str().expect("deny").to_owned())
    }

    /// [`Self::ask`], returning the whole notification body.
    pub async fn ask_body(&self, instance: &str, finding_id: &str, clock: firebreak::clock::Clock) -> Value {
        let mut event = finding(instance, finding_id);
        event["detail"]["severity"] = Value::from(BAND_SEVERITY);
        let reports = self.world.respond_at(event, &self.extra(), clock).await.expect("state table usable");
        assert_eq!(reports[0].decision, firebreak::plan::Decision::AwaitApproval);
        let notes = self.world.notifications().await;
        assert_eq!(notes.len(), 1, "one request for approval");
        serde_json::from_str(notes[0]["Message"].as_str().expect("message")).expect("JSON body")
    }

    /// The responder the GuardDuty function runs, with the approval settings.
    pub async fn responder(&self) -> firebreak::lambda::AwsResponder {
        self.world.responder(&self.extra()).await
    }

    pub async fn redeliver(&self, instance: &str, finding_id: &str) -> firebreak::report::Report {
        let mut event = finding(instance, finding_id);
        event["detail"]["severity"] = Value::from(BAND_SEVERITY);
        self.world.respond(event, &self.extra()).await.remove(0)
    }

    pub async fn isolated(&self, instance: &str) -> bool {
        let isolation = self.world.group_by_role("firebreak-isolation").await;
        let groups = self.world.interface_groups(instance).await;
        !groups.is_empty() && groups.iter().all(|(_, g)| *g == isolation)
    }

    pub async fn untouched(&self, instance: &str) -> bool {
        let groups = self.world.interface_groups(instance).await;
        groups.iter().all(|(_, g)| *g == vec![self.world.web_group.clone()])
            && !self.world.termination_protected(instance).await
            && !self.world.tags(instance).await.keys().any(|k| k.starts_with("firebreak:"))
    }

    pub async fn status(&self, finding_id: &str) -> String {
        let pk = format!("approval#incident#guardduty#123456789012#us-east-1#{finding_id}");
        let item = self.world.state_item(&pk).await.expect("the request is recorded");
        item["status"].as_s().expect("status").clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_person_approves_or_denies_over_http_and_only_a_valid_unused_unexpired_token_acts() {
    let port = crate::local_invoke::free_port();
    let approvals = Approvals::seed(port).await;
    let world = &approvals.world;
    let (approved, denied, late) = (
        world.launch(false, false).await.instance_id,
        world.launch(false, false).await.instance_id,
        world.launch(false, false).await.instance_id,
    );

    // Asked: nothing is done; a redelivery while pending asks nothing new.
    let (approve, deny) = approvals.ask(&approved, "finding-approved", firebreak::clock::Clock::system()).await;
    assert!(approvals.untouched(&approved).await, "asking changes nothing");
    let again = approvals.redeliver(&approved, "finding-approved").await;
    assert!(again.actions.iter().all(|a| !a.outcome.is_done()), "{again:?}");
    assert!(world.notifications().await.is_empty(), "no second request");
    assert_eq!(approvals.status("finding-approved").await, "pending");

    let _watch = watch_on(port, &approvals);
    // A GET shows exactly what would be done, and does nothing.
    let (status, page) = http("GET", &approve, None);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("Isolate it from the network ({approved})")) && page.contains("<form method=\"post\""),
        "{page}"
    );
    let (status, _) = http("GET", &approve, None);
    assert_eq!(status, 200, "a GET can be repeated: it changes nothing");
    assert!(approvals.untouched(&approved).await, "a GET alone changes nothing");
    assert_eq!(approvals.status("finding-approved").await, "pending");

    // Tampered and wrong-incident tokens are refused, nothing changes.
    let good = token(&approve);
    let mut tampered = good.clone();
    let last = tampered.pop().expect("a character");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let (other_approve, other_deny) = approvals.ask(&denied, "finding-denied", firebreak::clock::Clock::system()).await;
    let parts: Vec<&str> = good.split('.').collect();
    let other_token = token(&other_approve);
    let other: Vec<&str> = other_token.split('.').collect();
    let wrong_incident = format!("{}.{}.{}.{}.{}", parts[0], parts[1], parts[2], other[3], parts[4]);
    for forged in [tampered.as_str(), wrong_incident.as_str(), "v1.approve.9999999999.aW5jaWRlbnQ.AAAA", "garbage"] {
        let (status, page) = http("POST", &action(&approve), Some(&format!("token={forged}")));
        assert_eq!(status, 403, "{forged}: {page}");
        assert!(page.contains("Nothing was done"), "{page}");
    }
    assert!(approvals.untouched(&approved).await && approvals.untouched(&denied).await);
    assert!(world.notifications().await.is_empty(), "refusals notify nobody");

    // Approve: the containment runs as an automatic one would, and says so.
    let (status, page) = http("POST", &action(&approve), Some(&format!("token={good}")));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved") && page.contains("Isolate it from the network: done"), "{page}");
    assert!(approvals.isolated(&approved).await, "approved: isolated");
    assert!(world.termination_protected(&approved).await);
    assert_eq!(approvals.status("finding-approved").await, "approved");
    let request =
        world.state_item("approval#incident#guardduty#123456789012#us-east-1#finding-approved").await.expect("item");
    let by: Value = serde_json::from_str(request["decided"].as_s().expect("decided")).expect("approver");
    assert_eq!((by["via"].as_str(), by["user_agent"].as_str()), (Some("link"), Some("firebreak-tests")), "{by}");
    assert!(by["source_ip"].as_str().is_some_and(|ip| ip.starts_with("127.")), "who approved is recorded: {by}");
    // Its metrics record (Embedded Metric Format, on the function's stdout) counts it with the
    // GuardDuty responder's containments.
    let metrics = logged(port, "\"TimeToIsolation\"");
    assert!(
        metrics.contains("\"Function\":\"guardduty-responder\"") && metrics.contains("\"Decision\":\"contain\""),
        "{metrics}"
    );
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "one notification of the containment");
    assert!(notes[0]["Message"].as_str().unwrap_or_default().contains("approved by a person"), "{}", notes[0]);

    // Replayed, or answered the other way: single use.
    for replay in [format!("token={good}"), format!("token={}", token(&deny))] {
        let (status, page) = http("POST", &action(&approve), Some(&replay));
        assert_eq!(status, 409, "{page}");
        assert!(page.contains("already approved"), "{page}");
    }
    assert!(world.notifications().await.is_empty());

    // Deny: nothing done, a person told, and a redelivery never contains it.
    let (status, page) = http("POST", &action(&other_deny), Some(&format!("token={}", token(&other_deny))));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Denied: nothing was done"), "{page}");
    assert!(approvals.untouched(&denied).await, "denied: untouched");
    assert_eq!(approvals.status("finding-denied").await, "denied");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0]["Subject"].as_str().unwrap_or_default().contains("Denied"), "{}", notes[0]);
    approvals.redeliver(&denied, "finding-denied").await;
    assert!(approvals.untouched(&denied).await && world.notifications().await.is_empty(), "never contained later");

    // Expired: asked two hours ago with a one-hour deadline; the link is refused, the sweep closes it.
    let two_hours_ago = firebreak::clock::Clock::system().since_epoch() - std::time::Duration::from_secs(7200);
    let (late_approve, _) =
        approvals.ask(&late, "finding-late", firebreak::clock::Clock::starting_at(two_hours_ago)).await;
    let (status, page) = http("POST", &action(&late_approve), Some(&format!("token={}", token(&late_approve))));
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("expired"), "{page}");
    assert!(approvals.untouched(&late).await);
    let swept = invoke(port, "containment-sweeper", &schedule());
    assert!(swept.contains("finding-late"), "{swept}");
    assert_eq!(approvals.status("finding-late").await, "expired");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "the expiry is told once");
    assert!(notes[0]["Subject"].as_str().unwrap_or_default().contains("Expired"), "{}", notes[0]);
    assert!(approvals.untouched(&late).await);
    let swept_again = invoke(port, "containment-sweeper", &schedule());
    assert!(!swept_again.contains("finding-late") && world.notifications().await.is_empty(), "{swept_again}");
}

/// `cargo lambda watch` serving the approval function, the GuardDuty responder it invokes and the
/// containment sweeper, all built and started before the test goes on: the schedule's sweep (in the
/// sweeper) finds nothing overdue, the approval function and the responder refuse the schedule's event,
/// and the responder refuses to run a containment nobody approved.
pub(crate) fn watch_on(port: u16, approvals: &Approvals) -> crate::local_invoke::Watch {
    let watch = watch(&approvals.world, &approvals.function_env(port), Some(port)).0;
    let swept = invoke(port, "containment-sweeper", &schedule());
    assert!(swept.contains("\"expired\":[]"), "{swept}");
    for elsewhere in ["approval-responder", "guardduty-responder"] {
        let not_here = invoke(port, elsewhere, &schedule());
        assert!(not_here.contains("the schedule's sweep runs in the containment sweeper"), "{elsewhere}: {not_here}");
    }
    let nobody = r#"{"firebreak-approved": "incident#guardduty#123456789012#us-east-1#none"}"#;
    let refused = invoke(port, "guardduty-responder", nobody);
    assert!(refused.contains("no request for approval"), "{refused}");
    watch
}

fn schedule() -> String {
    std::fs::read_to_string(crate::support::sample_event("approval/scheduled-sweep.json")).expect("sample")
}

/// Node.js with the browser test's `playwright-core` (installed by scripts/test) and Debian's Chromium.
fn browser_script() -> std::path::PathBuf {
    let dir = crate::support::repo_root().join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed in tests/browser: run scripts/test, which installs it"
    );
    let chromium = std::env::var("FIREBREAK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: run scripts/test, which installs Debian's chromium"
    );
    dir.join("approve.mjs")
}

#[tokio::test(flavor = "current_thread")]
async fn in_a_real_browser_the_link_shows_what_will_be_done_and_its_button_contains_the_instance() {
    let script = browser_script();
    let port = crate::local_invoke::free_port();
    let approvals = Approvals::seed(port).await;
    let instance = approvals.world.launch(false, false).await.instance_id;
    let (approve, _) = approvals.ask(&instance, "finding-browser", firebreak::clock::Clock::system()).await;
    assert!(approve.starts_with(&approvals.url), "{approve}");
    let _watch = watch_on(port, &approvals);

    // Kept for people to look at: target/test-artifacts/approval-{page,result}.png.
    let artifacts = crate::support::repo_root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let out =
        std::process::Command::new("node").arg(&script).arg(&approve).arg(&artifacts).output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");

    let confirmation = &seen["confirmation"];
    assert_eq!(confirmation["status"], 200, "{seen}");
    assert_eq!(confirmation["heading"], "Approve this containment?", "{seen}");
    let steps = confirmation["steps"].as_str().unwrap_or_default();
    // Each step as a person reads it (the one table beside the Step model), naming its instance.
    for step in [
        "Detach it from its Auto Scaling group",
        "Isolate it from the network",
        "Revoke the instance's role credentials",
        "Snapshot its volumes as evidence",
    ] {
        assert!(steps.contains(&format!("{step} ({instance})")), "{step}: {steps}");
    }
    assert!(!steps.contains("isolate_instance"), "no step in code form: {steps}");
    assert_eq!(confirmation["button"], "Approve and contain now");
    assert_eq!(seen["elsewhere"], serde_json::json!([]), "the page loads nothing from elsewhere");

    let result = &seen["result"];
    assert_eq!(result["heading"], "Approved: the containment ran", "{seen}");
    let text = result["text"].as_str().unwrap_or_default();
    assert!(text.contains("Isolate it from the network: done") && text.contains(&instance), "{text}");
    assert!(approvals.isolated(&instance).await, "the button contained the instance");
    assert_eq!(approvals.status("finding-browser").await, "approved");
    for shot in ["approval-page.png", "approval-result.png"] {
        let size = std::fs::metadata(artifacts.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{shot} is a real screenshot ({size} bytes)");
    }
}

/// The front door (`ApprovalWebAclArn`): the function URL takes only CloudFront's signed requests (every
/// public permission goes with it), and the CloudFront function signs every POST as the empty body the
/// page's button sends, whatever hash a client claims; run here under Node, as CloudFront's JavaScript.
#[test]
fn behind_the_front_door_only_cloudfront_calls_the_url_and_a_post_is_signed_as_an_empty_body() {
    let template = crate::iam::decode("template.yaml");
    let resources = template["Resources"].as_object().expect("resources");
    assert_eq!(
        resources["ApprovalResponderUrl"]["Properties"]["AuthType"],
        serde_json::json!({"Fn::If": ["HasApprovalFrontDoor", "AWS_IAM", "NONE"]})
    );
    let permissions: Vec<(&String, &Value)> =
        resources.iter().filter(|(_, r)| r["Type"] == "AWS::Lambda::Permission").collect();
    for (name, permission) in &permissions {
        let properties = &permission["Properties"];
        if properties["FunctionName"] != serde_json::json!({"Ref": "ApprovalResponder"}) {
            continue;
        }
        match properties["Principal"].as_str() {
            Some("*") => assert_eq!(permission["Condition"], "NoApprovalFrontDoor", "{name}: public only without"),
            Some("cloudfront.amazonaws.com") => {
                assert_eq!(permission["Condition"], "HasApprovalFrontDoor", "{name}");
                assert!(properties["SourceArn"].to_string().contains("ApprovalDistribution"), "{name}: that one only");
            }
            other => panic!("{name}: unexpected principal {other:?}"),
        }
    }
    let distribution = &resources["ApprovalDistribution"]["Properties"]["DistributionConfig"];
    assert_eq!(distribution["WebACLId"], serde_json::json!({"Ref": "ApprovalWebAclArn"}));

    let code = resources["ApprovalEmptyBodyHash"]["Properties"]["FunctionCode"].as_str().expect("code");
    let script = format!(
        "{code}\nconst empty = require('crypto').createHash('sha256').update('').digest('hex');\n\
         const post = handler({{request: {{method: 'POST', headers: {{'x-amz-content-sha256': {{value: 'claimed'}}}}}}}});\n\
         const get = handler({{request: {{method: 'GET', headers: {{'x-amz-content-sha256': {{value: 'claimed'}}}}}}}});\n\
         console.log(JSON.stringify({{empty, post: post.headers['x-amz-content-sha256'], get: get.headers['x-amz-content-sha256'] || null}}));"
    );
    let out = std::process::Command::new("node").arg("-e").arg(&script).output().expect("node runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(result["post"]["value"], result["empty"], "a POST is signed as the empty body: {result}");
    assert_eq!(result["get"], Value::Null, "nothing claimed on a GET: {result}");

    // The button sends exactly that: the token in the URL, no field in the body.
    let request = firebreak::approval::ApprovalRequest {
        key: "incident#guardduty#123456789012#us-east-1#f".into(),
        status: firebreak::approval::ApprovalStatus::Pending,
        requested_at: 0,
        deadline: 3600,
        summary: "s".into(),
        account: None,
        region: None,
        reasons: vec![],
        actions: vec![],
        event: String::new(),
        decided: None,
    };
    let page =
        firebreak::approval::page::confirmation(&request, firebreak::approval::Verdict::Approve, "v1.approve.3600.a.b");
    assert!(page.contains("<form method=\"post\" action=\"./?token=v1.approve.3600.a.b\">"), "{page}");
    assert!(!page.contains("<input"), "no field in the body: {page}");
}
