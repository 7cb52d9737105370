//! A request for approval over its whole life (issue #29), in process at the moments the clocks name.
//! Nothing approved is lost: the sweep runs again every approved request whose run is not done, until
//! it completes or one approval TTL after the approval; a run that cannot be started is told once, and
//! so is giving up. Nothing waits forever: what an expiry does is a setting, and a later update of the
//! finding asks again, showing what changed.

use crate::approval::Approvals;
use crate::support::finding;
use firebreak::approval::{Approver, Verdict, Via};
use firebreak::clock::Clock;
use firebreak::ports::Containments;
use serde_json::Value;
use std::cell::Cell;
use std::time::Duration;

/// The GuardDuty responder as the approval function invokes it, at `clock`; the first `failures`
/// invokes, and every invoke for a key ending in `failing`, fail as a throttled Lambda invoke does.
struct InProcess<'a> {
    responder: &'a firebreak::lambda::AwsResponder,
    clock: Clock,
    failures: Cell<u32>,
    failing: Option<&'static str>,
}

impl Containments for InProcess<'_> {
    async fn contain_approved(&self, key: &str) -> firebreak::Result<Value> {
        if self.failures.get() > 0 || self.failing.is_some_and(|f| key.ends_with(f)) {
            self.failures.set(self.failures.get().saturating_sub(1));
            return Err(firebreak::Error::Aws {
                operation: "Invoke",
                code: Some("TooManyRequestsException".into()),
                message: "Rate exceeded".into(),
                retryable: true,
            });
        }
        let lease = self.clock.now().epoch + 900;
        match self.responder.run_approved(key, &self.clock, lease).await? {
            Ok(report) => Ok(serde_json::json!({ "reports": [report] })),
            Err(why) => Err(firebreak::Error::refused("responder", why)),
        }
    }
}

/// The start of the previous UTC hour plus a minute: every moment of a test is then in the past,
/// and `at(0)`…`at(3599 - 60)` share one cap window.
fn hour_start() -> u64 {
    Clock::system().now().epoch / 3600 * 3600 - 3600 + 60
}

fn at(epoch: u64) -> Clock {
    Clock::starting_at(Duration::from_secs(epoch))
}

const INCIDENT: &str = "incident#guardduty#123456789012#us-east-1#";

async fn approve(approvals: &Approvals, finding_id: &str, when: u64) {
    let by = Approver { via: Via::Link, source_ip: None, user_agent: None, user: None, at: when };
    let answer = approvals
        .responder()
        .await
        .answer(&format!("{INCIDENT}{finding_id}"), Verdict::Approve, by, &at(when), false)
        .await
        .expect("answered");
    assert!(matches!(answer, firebreak::playbooks::Answer::Approved), "{answer:?}");
}

fn text(note: &Value) -> String {
    format!("{} {}", note["Subject"].as_str().unwrap_or_default(), note["Message"].as_str().unwrap_or_default())
}

#[tokio::test(flavor = "current_thread")]
async fn an_approved_run_held_back_by_the_cap_completes_on_a_later_sweep_and_is_told_once_meanwhile() {
    let mut approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    approvals.env.push(("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR".into(), "1".into()));
    approvals.env.push(("FIREBREAK_APPROVAL_TTL_SECONDS".into(), "7200".into()));
    let extra: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let world = &approvals.world;
    let (busy, victim) = (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    let t0 = hour_start();
    // The hour's one slot goes to an automatic containment.
    world.respond_at(finding(&busy, "finding-busy"), &extra, at(t0)).await.expect("state usable");
    world.notifications().await;
    approvals.ask(&victim, "finding-victim", at(t0)).await;
    approve(&approvals, "finding-victim", t0).await;
    let responder = approvals.responder().await;
    let first = InProcess { responder: &responder, clock: at(t0), failures: Cell::new(0), failing: None };
    first.contain_approved(&format!("{INCIDENT}finding-victim")).await.expect("ran");
    assert!(approvals.untouched(&victim).await, "held back by the cap");
    let notes = world.notifications().await;
    let held: Vec<String> =
        notes.iter().map(text).filter(|t| t.contains("stays open") && !t.contains("\"kind\":\"circuit\"")).collect();
    assert_eq!(held.len(), 1, "told once that it is held back (beside the circuit's notice): {notes:?}");

    // The sweep in the same hour runs it again: still held back, and nothing new is told.
    let same_hour = t0 + 600;
    let sweep = InProcess { responder: &responder, clock: at(same_hour), failures: Cell::new(0), failing: None };
    let redriven = responder.redrive_approved(&sweep, &at(same_hour)).await.expect("swept");
    assert_eq!(redriven.len(), 1, "{redriven:?}");
    assert!(approvals.untouched(&victim).await);
    assert!(world.notifications().await.is_empty(), "held back again: told already");

    // The next hour's sweep: the cap allows, the approved containment completes, and says so.
    let next_hour = t0 + 3600;
    let sweep = InProcess { responder: &responder, clock: at(next_hour), failures: Cell::new(0), failing: None };
    responder.redrive_approved(&sweep, &at(next_hour)).await.expect("swept");
    assert!(approvals.isolated(&victim).await, "contained once the cap allowed");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(text(&notes[0]).contains("approved by a person"), "{}", text(&notes[0]));
    // Done: later sweeps leave it alone.
    let later = t0 + 3900;
    let sweep = InProcess { responder: &responder, clock: at(later), failures: Cell::new(0), failing: None };
    assert!(responder.redrive_approved(&sweep, &at(later)).await.expect("swept").is_empty());
    assert!(world.notifications().await.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_approved_run_that_cannot_be_started_is_told_once_retried_and_given_up_at_its_deadline() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let (retried, abandoned) =
        (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    let t0 = hour_start();
    approvals.ask(&retried, "finding-retried", at(t0)).await;
    approvals.ask(&abandoned, "finding-abandoned", at(t0)).await;
    approve(&approvals, "finding-retried", t0).await;
    approve(&approvals, "finding-abandoned", t0).await;
    let responder = approvals.responder().await;
    let sweep_at = |when: u64, failures: u32, failing: Option<&'static str>| {
        (InProcess { responder: &responder, clock: at(when), failures: Cell::new(failures), failing }, at(when))
    };

    // Within the grace the answer's own run may still be going: the sweep leaves both alone.
    let (invoke, clock) = sweep_at(t0 + 60, 0, None);
    assert!(responder.redrive_approved(&invoke, &clock).await.expect("swept").is_empty());

    // Both invokes fail (throttled): each is told once, with what to do, and kept for the next sweep.
    let (invoke, clock) = sweep_at(t0 + 300, 2, None);
    responder.redrive_approved(&invoke, &clock).await.expect("swept");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 2, "one notice per request");
    for note in &notes {
        let said = text(note);
        assert!(said.contains("Approved, not run yet") && said.contains("Rate exceeded"), "{said}");
        assert!(said.contains("aws lambda invoke --function-name"), "{said}");
    }
    let item = world.state_item(&format!("approval#{INCIDENT}finding-retried")).await.expect("request");
    assert!(item.contains_key("undelivered"), "the request's record says so too");
    let (invoke, clock) = sweep_at(t0 + 600, 2, None);
    responder.redrive_approved(&invoke, &clock).await.expect("swept");
    assert!(world.notifications().await.is_empty(), "failing again tells nothing new");
    assert!(approvals.untouched(&retried).await && approvals.untouched(&abandoned).await);

    // The invoke works again for one of them: it is contained, and says so.
    let (invoke, clock) = sweep_at(t0 + 900, 0, Some("finding-abandoned"));
    responder.redrive_approved(&invoke, &clock).await.expect("swept");
    assert!(approvals.isolated(&retried).await);
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(text(&notes[0]).contains("approved by a person"), "{}", text(&notes[0]));

    // The other never runs: one approval TTL after the approval it is given up, once, and left alone.
    let (invoke, clock) = sweep_at(t0 + 3600, 0, Some("finding-abandoned"));
    responder.redrive_approved(&invoke, &clock).await.expect("swept");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(text(&notes[0]).contains("Approved, given up"), "{}", text(&notes[0]));
    let (invoke, clock) = sweep_at(t0 + 3900, 0, None);
    responder.redrive_approved(&invoke, &clock).await.expect("swept");
    assert!(world.notifications().await.is_empty(), "given up once");
    assert!(approvals.untouched(&abandoned).await, "nothing runs after its deadline");
}

/// The band-severity finding about `instance` as GuardDuty updates it: `severity`, seen `count` times,
/// last at `updated_at`.
fn update(instance: &str, finding_id: &str, severity: f64, count: u64, updated_at: &str) -> Value {
    let mut event = finding(instance, finding_id);
    event["detail"]["severity"] = Value::from(severity);
    event["detail"]["service"]["count"] = Value::from(count);
    event["detail"]["updatedAt"] = Value::from(updated_at);
    event
}

/// The page the approval function's URL serves for `link` (a GET), in process.
async fn open_link(approvals: &Approvals, link: &str, when: u64) -> firebreak::approval::http::Page {
    let query = link.split_once('?').map(|(_, q)| q).expect("a query");
    let request = serde_json::json!({
        "rawQueryString": query, "headers": {}, "isBase64Encoded": false,
        "requestContext": {"http": {"method": "GET", "sourceIp": "127.0.0.1", "userAgent": "firebreak-tests"}},
    });
    let firebreak::approval::http::Invocation::Url(request) =
        firebreak::approval::http::invocation(request).expect("a URL request")
    else {
        panic!("not a URL request")
    };
    let signer = firebreak::approval::Signer::new(crate::approval::KEY, &approvals.url, Duration::from_secs(3600))
        .expect("signer");
    let verifier = firebreak::approval::Verifier::new(vec![(firebreak::incident::Kind::Guardduty, signer)]);
    let responder = approvals.responder().await;
    let nobody = InProcess { responder: &responder, clock: at(when), failures: Cell::new(0), failing: None };
    responder.serve(request, &verifier, &nobody, &at(when)).await
}

#[tokio::test(flavor = "current_thread")]
async fn a_rise_while_pending_and_a_later_update_after_a_denial_ask_again_with_what_changed() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let extra: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let world = &approvals.world;
    let instance = world.launch(false, false).await.instance_id;
    let t0 = hour_start();
    let first = update(&instance, "finding-rise", 5.0, 1, "2026-11-24T05:58:11.000Z");
    world.respond_at(first.clone(), &extra, at(t0)).await.expect("state usable");
    let asked: Value =
        serde_json::from_str(world.notifications().await[0]["Message"].as_str().expect("message")).expect("JSON body");
    let old_link = asked["report"]["approval"]["approve"].as_str().expect("a link").to_owned();

    // The same update again asks nothing new.
    world.respond_at(first, &extra, at(t0 + 60)).await.expect("state usable");
    assert!(world.notifications().await.is_empty(), "a redelivery asks nothing new");

    // GuardDuty raises the severity and the count while the request is pending: asked again at once,
    // saying what changed, and the first request's links stop working.
    world
        .respond_at(update(&instance, "finding-rise", 6.0, 4, "2026-11-24T06:28:11.000Z"), &extra, at(t0 + 120))
        .await
        .expect("state usable");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let said = text(&notes[0]);
    assert!(
        said.contains("asked again") && said.contains("severity 5 → 6") && said.contains("seen 1 → 4 times"),
        "{said}"
    );
    assert_eq!(approvals.status("finding-rise").await, "pending");
    let page = open_link(&approvals, &old_link, t0 + 180).await;
    assert_eq!(page.status, 409, "{}", page.html);
    assert!(page.html.contains("replaced by a newer request"), "{}", page.html);
    assert!(approvals.untouched(&instance).await);

    // Denied: final for that update only. The same update again changes nothing; the next one asks again.
    let by = Approver { via: Via::Cli, source_ip: None, user_agent: None, user: Some("analyst".into()), at: t0 + 240 };
    let key = format!("{INCIDENT}finding-rise");
    approvals.responder().await.answer(&key, Verdict::Deny, by, &at(t0 + 240), false).await.expect("answered");
    assert!(text(&world.notifications().await[0]).contains("Denied"));
    world
        .respond_at(update(&instance, "finding-rise", 6.0, 4, "2026-11-24T06:28:11.000Z"), &extra, at(t0 + 300))
        .await
        .expect("state usable");
    assert!(world.notifications().await.is_empty(), "the denied update is not asked about again");
    world
        .respond_at(update(&instance, "finding-rise", 6.0, 9, "2026-11-24T06:58:11.000Z"), &extra, at(t0 + 360))
        .await
        .expect("state usable");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert!(
        text(&notes[0]).contains("asked again: GuardDuty updated the finding since the request that was denied"),
        "{}",
        text(&notes[0])
    );
    assert_eq!(approvals.status("finding-rise").await, "pending");
    assert!(approvals.untouched(&instance).await, "asking again does nothing by itself");
}

/// A finding that waits in the approval band and that GuardDuty raises past the automatic threshold is
/// contained as any finding at that severity would be, pending or denied, and says why.
#[tokio::test(flavor = "current_thread")]
async fn a_finding_raised_past_the_automatic_threshold_while_it_waits_is_contained_without_waiting() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let extra: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let world = &approvals.world;
    let (pending, denied) =
        (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    let t0 = hour_start();
    for (instance, id) in [(&pending, "finding-pending"), (&denied, "finding-denied")] {
        world
            .respond_at(update(instance, id, 5.0, 1, "2026-11-24T05:58:11.000Z"), &extra, at(t0))
            .await
            .expect("asked");
    }
    let by = Approver { via: Via::Cli, source_ip: None, user_agent: None, user: Some("analyst".into()), at: t0 + 60 };
    let key = format!("{INCIDENT}finding-denied");
    approvals.responder().await.answer(&key, Verdict::Deny, by, &at(t0 + 60), false).await.expect("answered");
    world.notifications().await;

    for (instance, id) in [(&pending, "finding-pending"), (&denied, "finding-denied")] {
        let raised = update(instance, id, 8.0, 6, "2026-11-24T06:28:11.000Z");
        let reports = world.respond_at(raised.clone(), &extra, at(t0 + 120)).await.expect("state usable");
        assert!(approvals.isolated(instance).await, "{id}: contained at severity 8 without waiting: {reports:#?}");
        assert_eq!(approvals.status(id).await, "approved", "{id}");
        let notes = world.notifications().await;
        assert_eq!(notes.len(), 1, "{id}: {notes:?}");
        assert!(text(&notes[0]).contains("past the automatic threshold"), "{}", text(&notes[0]));
        // The same update again changes nothing more.
        world.respond_at(raised, &extra, at(t0 + 180)).await.expect("state usable");
        assert!(world.notifications().await.is_empty(), "{id}: once");
    }
}

/// Each expiry setting: `ask-again` (the default) closes and asks again on the next update; `notify`
/// closes for good; `contain` runs the plan as approved by the deadline.
#[tokio::test(flavor = "current_thread")]
async fn what_an_expiry_does_is_a_setting() {
    for setting in ["ask-again", "notify", "contain"] {
        let mut approvals = Approvals::seed(crate::local_invoke::free_port()).await;
        approvals.env.push(("FIREBREAK_APPROVAL_ON_EXPIRY".into(), setting.into()));
        let extra: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let world = &approvals.world;
        let instance = world.launch(false, false).await.instance_id;
        let t0 = hour_start() - 7200;
        world
            .respond_at(update(&instance, "finding-late", 5.0, 1, "2026-11-24T05:58:11.000Z"), &extra, at(t0))
            .await
            .expect("state usable");
        world.notifications().await;
        // The sweep after the deadline: expiry, then the re-drive of what is approved.
        let responder = approvals.responder().await;
        let sweep = t0 + 3700;
        let invoke = InProcess { responder: &responder, clock: at(sweep), failures: Cell::new(0), failing: None };
        responder.expire_overdue(&at(sweep)).await.expect("swept");
        responder.redrive_approved(&invoke, &at(sweep)).await.expect("swept");
        let notes = world.notifications().await;
        assert_eq!(notes.len(), 1, "{setting}: {notes:?}");
        let said = text(&notes[0]);
        let later = update(&instance, "finding-late", 5.0, 3, "2026-11-24T06:58:11.000Z");
        match setting {
            "contain" => {
                assert!(said.contains("approved by the deadline"), "{said}");
                assert!(approvals.isolated(&instance).await, "silence means yes");
                continue;
            }
            "notify" => assert!(said.contains("Expired") && said.contains("nothing more happens"), "{said}"),
            _ => assert!(said.contains("Expired") && said.contains("the next update of this finding"), "{said}"),
        }
        assert_eq!(approvals.status("finding-late").await, "expired");
        world.respond_at(later, &extra, at(sweep + 60)).await.expect("state usable");
        let notes = world.notifications().await;
        match setting {
            "notify" => assert!(notes.is_empty(), "closed for good: {notes:?}"),
            _ => {
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert!(text(&notes[0]).contains("since the request that was expired"), "{}", text(&notes[0]));
            }
        }
        assert!(approvals.untouched(&instance).await, "{setting}");
    }
}

/// A flood at the public URL costs no AWS call: a request without a well-formed, correctly signed,
/// unexpired token is refused before the state table (or anything else) is asked.
#[tokio::test(flavor = "current_thread")]
async fn a_request_without_a_valid_token_is_refused_before_any_aws_call() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let proxy = crate::fault_proxy::FaultProxy::start(world.endpoint()).await;
    let sdk = crate::emulator::sdk_for(&proxy.endpoint).await;
    let mut env: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("FIREBREAK_CONTAINMENT_FUNCTION", "firebreak-guardduty-responder"));
    let (approval, verifier, invoker) =
        firebreak::lambda::approval_responder(&sdk, world.config(&env)).await.expect("the approval function starts");
    let at_start = proxy.all_calls();
    let signer = firebreak::approval::Signer::new(crate::approval::KEY, &approvals.url, Duration::from_secs(3600))
        .expect("signer");
    let expired = signer.token(&format!("{INCIDENT}flood"), Verdict::Approve, 1_000);
    let forged = format!("v1.approve.9999999999.{}.AAAA", "aW5jaWRlbnQ");
    for (method, query, body) in [
        ("GET", "", None),
        ("GET", "token=garbage", None),
        ("POST", "", Some(format!("token={forged}"))),
        ("POST", "", Some(format!("token={expired}"))),
        ("PUT", "token=x", None),
    ] {
        let request = serde_json::json!({
            "rawQueryString": query, "body": body, "headers": {}, "isBase64Encoded": false,
            "requestContext": {"http": {"method": method, "sourceIp": "198.51.100.7", "userAgent": "flood"}},
        });
        let firebreak::approval::http::Invocation::Url(request) =
            firebreak::approval::http::invocation(request).expect("a URL request")
        else {
            panic!("not a URL request")
        };
        let page = approval.serve(request, &verifier, &invoker, &Clock::system()).await;
        assert!(matches!(page.status, 400 | 403 | 405), "{method} {query}: {}", page.status);
    }
    assert_eq!(proxy.all_calls(), at_start, "no AWS call for a request without a valid token");
}

/// The alarm responder, as the approval function and the sweep invoke it to run an approved idle stop.
struct AlarmResponder {
    responder: firebreak::lambda::AwsResponder,
    clock: Clock,
}

impl AlarmResponder {
    async fn run(&self, key: &str) -> firebreak::Result<Value> {
        assert_eq!(firebreak::state_keys::incident_kind(key), Some(firebreak::incident::Kind::Alarm), "{key}");
        let lease = self.clock.now().epoch + 900;
        match self.responder.run_approved(key, &self.clock, lease).await? {
            Ok(report) => Ok(serde_json::json!({ "reports": [report] })),
            Err(why) => Err(firebreak::Error::refused("responder", why)),
        }
    }
}

impl Containments for AlarmResponder {
    async fn contain_approved(&self, key: &str) -> firebreak::Result<Value> {
        self.run(key).await
    }
}

impl firebreak::ports::HandOff for AlarmResponder {
    fn hand_off<'a>(&'a self, key: &'a str) -> Option<futures::future::LocalBoxFuture<'a, firebreak::Result<Value>>> {
        let alarm = firebreak::state_keys::incident_kind(key) == Some(firebreak::incident::Kind::Alarm);
        alarm.then(|| Box::pin(self.run(key)) as futures::future::LocalBoxFuture<'a, _>)
    }
}

/// A POST of `link`'s token to the approval function's URL, in process.
fn post(link: &str) -> firebreak::approval::http::UrlRequest {
    let query = link.split_once('?').map(|(_, q)| q).expect("a query");
    let request = serde_json::json!({
        "rawQueryString": "", "body": query, "headers": {}, "isBase64Encoded": false,
        "requestContext": {"http": {"method": "POST", "sourceIp": "192.0.2.10", "userAgent": "firebreak-tests"}},
    });
    match firebreak::approval::http::invocation(request).expect("a URL request") {
        firebreak::approval::http::Invocation::Url(request) => request,
        _ => panic!("not a URL request"),
    }
}

/// One rule for every destructive plan: an idle stop of a listed instance waits for a person like a
/// containment, signed with the alarm responder's own key; approved by link it runs in the alarm
/// responder (which alone may stop instances), and an expiry under `contain` is run by the sweep of the
/// GuardDuty responder handing it over.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_stop_of_a_listed_instance_waits_for_a_person_and_runs_in_the_alarm_responder() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let idle_secret = world.secret("firebreak-idle-approval-key", &"i".repeat(64)).await;
    let (approved, expiring) =
        (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    world.idle_alarm(&approved, 0.3).await;
    world.idle_alarm(&expiring, 0.3).await;
    let listed = format!("{approved},{expiring}");
    let alarm_env = [
        ("FIREBREAK_APPROVAL_INSTANCES", listed.as_str()),
        ("FIREBREAK_APPROVAL_SECRET_ARN", idle_secret.as_str()),
        ("FIREBREAK_APPROVAL_URL", approvals.url.as_str()),
        ("FIREBREAK_APPROVAL_ON_EXPIRY", "contain"),
    ];
    let t0 = hour_start();

    // Asked, not stopped: the plan waits, and the links are the alarm responder's.
    let event = crate::idle_stop::idle_alarm(crate::idle_stop::FORMS[0], &approved);
    let reports = world.respond_at(event, &alarm_env, at(t0)).await.expect("state usable");
    assert_eq!(reports[0].decision, firebreak::plan::Decision::AwaitApproval, "{:#?}", reports[0]);
    assert!(reports[0].reasons[0].contains("FIREBREAK_APPROVAL_INSTANCES"), "{:?}", reports[0].reasons);
    assert_eq!(world.instance_state(&approved).await, "running", "asking stops nothing");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let body: Value = serde_json::from_str(notes[0]["Message"].as_str().expect("message")).expect("JSON body");
    let link = body["report"]["approval"]["approve"].as_str().expect("an approve link").to_owned();

    // The approval function verifies it with the idle-stop key and has the alarm responder run it.
    let mut approval_env: Vec<(&str, &str)> = approvals.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    approval_env.extend([
        ("FIREBREAK_IDLE_APPROVAL_SECRET_ARN", idle_secret.as_str()),
        ("FIREBREAK_CONTAINMENT_FUNCTION", "firebreak-guardduty-responder"),
        ("FIREBREAK_IDLE_STOP_FUNCTION", "firebreak-alarm-responder"),
    ]);
    let (approval, verifier, _) = firebreak::lambda::approval_responder(&world.sdk, world.config(&approval_env))
        .await
        .expect("the approval function starts");
    let alarm = AlarmResponder { responder: world.responder(&alarm_env).await, clock: at(t0 + 60) };
    let page = approval.serve(post(&link), &verifier, &alarm, &at(t0 + 60)).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Stop the instance: done"), "{}", page.html);
    assert_eq!(world.instance_state(&approved).await, "stopped", "approved: stopped by the alarm responder");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(text(&notes[0]).contains("approved by a person"), "{}", text(&notes[0]));

    // The GuardDuty responder's key signs no link to an idle stop's request.
    let guardduty_signer =
        firebreak::approval::Signer::new(crate::approval::KEY, &approvals.url, Duration::from_secs(3600))
            .expect("signer");
    let key = reports[0].incident_key.clone();
    let forged = guardduty_signer.links(&key, t0 + 3000).approve;
    assert_eq!(approval.serve(post(&forged), &verifier, &alarm, &at(t0 + 120)).await.status, 403);

    // Nobody answers the second: at its deadline the sweep (GuardDuty responder) approves it, as the
    // setting says, and hands the stop to the alarm responder.
    let event = crate::idle_stop::idle_alarm(crate::idle_stop::FORMS[2], &expiring);
    world.respond_at(event, &alarm_env, at(t0)).await.expect("state usable");
    world.notifications().await;
    let mut sweeper = world.responder(&approvals.extra_with(&[("FIREBREAK_APPROVAL_ON_EXPIRY", "contain")])).await;
    let sweep_at = t0 + 3600 + 60;
    sweeper.handoff =
        Some(Box::new(AlarmResponder { responder: world.responder(&alarm_env).await, clock: at(sweep_at) }));
    sweeper.sweep(&at(sweep_at), sweep_at + 900).await.expect("swept");
    assert_eq!(world.instance_state(&expiring).await, "stopped", "approved by the deadline: stopped");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(text(&notes[0]).contains("approved by the deadline"), "{}", text(&notes[0]));
}

/// A request for approval is a message into the approvers' channel: an idle-stop alarm is confirmed with
/// CloudWatch before anyone is asked, as before a stop. A forged alarm event (no such alarm) and an alarm
/// set to ALARM by hand (its metric says busy) ask nobody, and the notification says why.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_stop_cloudwatch_does_not_confirm_asks_nobody() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let idle_secret = world.secret("firebreak-idle-approval-key", &"i".repeat(64)).await;
    let (forged, busy) = (world.launch(false, false).await.instance_id, world.launch(false, false).await.instance_id);
    world.idle_alarm(&busy, 40.0).await;
    let listed = format!("{forged},{busy}");
    let alarm_env = [
        ("FIREBREAK_APPROVAL_INSTANCES", listed.as_str()),
        ("FIREBREAK_APPROVAL_SECRET_ARN", idle_secret.as_str()),
        ("FIREBREAK_APPROVAL_URL", approvals.url.as_str()),
    ];
    let t0 = hour_start();
    for (instance, why) in [(&forged, "no metric alarm"), (&busy, "not earned by the metric")] {
        let event = crate::idle_stop::idle_alarm(crate::idle_stop::FORMS[0], instance);
        let reports = world.respond_at(event, &alarm_env, at(t0)).await.expect("state usable");
        let report = &reports[0];
        assert!(report.approval.is_none(), "no links: {report:#?}");
        assert!(
            report.reasons[0].starts_with("no approval requested") && report.reasons[0].contains(why),
            "{:?}",
            report.reasons
        );
        let approval_key = format!("approval#{}", report.incident_key);
        assert!(world.state_item(&approval_key).await.is_none(), "no request recorded for {instance}");
        assert_eq!(world.instance_state(instance).await, "running");
        let notes = world.notifications().await;
        assert_eq!(notes.len(), 1, "{notes:?}");
        let said = text(&notes[0]);
        assert!(said.contains(why) && !said.contains(approvals.url.as_str()), "no link in the channel: {said}");
    }
}

/// A request made from a Security Hub delivery keeps GuardDuty's own copy of the finding: Security Hub's
/// copy arrives first (arrival order is not guaranteed), a person approves, and the instance is
/// contained (decided again from GuardDuty's copy, which still asks for approval, never from Security
/// Hub's text, which would only notify).
#[tokio::test(flavor = "current_thread")]
async fn a_request_made_from_a_security_hub_copy_is_approved_and_contains() {
    let approvals = Approvals::seed(crate::local_invoke::free_port()).await;
    let world = &approvals.world;
    let victim = world.launch(false, false).await.instance_id;
    let finding_id = "5d000000000000000000000000000006";
    let mut produced = finding(&victim, finding_id);
    produced["detail"]["severity"] = Value::from(crate::approval::BAND_SEVERITY);
    world.guardduty_produced(&produced);
    let t0 = hour_start();
    let copy = crate::securityhub::delivery("asff-guardduty-ec2-backdoor.json", &victim, finding_id);
    let reports = world.deliver_at(copy, &approvals.extra(), at(t0)).await.expect("state usable");
    assert_eq!(reports[0].decision, firebreak::plan::Decision::AwaitApproval, "{:#?}", reports[0]);
    let request = world.state_item(&format!("approval#{INCIDENT}{finding_id}")).await.expect("requested");
    let kept = request["request"].as_s().expect("the request");
    assert!(kept.contains("GuardDuty Finding") && !kept.contains("Security Hub Findings"), "GuardDuty's copy is kept");
    approve(&approvals, finding_id, t0 + 60).await;
    let responder = approvals.responder().await;
    let run = InProcess { responder: &responder, clock: at(t0 + 60), failures: Cell::new(0), failing: None };
    run.contain_approved(&format!("{INCIDENT}{finding_id}")).await.expect("ran");
    assert!(approvals.isolated(&victim).await, "contained once approved");
}
