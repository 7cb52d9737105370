//! Nothing approved is lost (issue #29): the approval function's sweep runs again every approved
//! request whose run is not done, until it completes or one approval TTL after the approval; a run
//! that cannot be started is told once, and so is giving up. The approved runs go through the same
//! responder as the function URL's, in process, at the moments the clocks name.

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

const KEY: &str = "incident#guardduty#123456789012#us-east-1#";

async fn approve(approvals: &Approvals, finding_id: &str, when: u64) {
    let by = Approver { via: Via::Link, source_ip: None, user_agent: None, user: None, at: when };
    let answer = approvals
        .responder()
        .await
        .answer(&format!("{KEY}{finding_id}"), Verdict::Approve, by, &at(when), false)
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
    first.contain_approved(&format!("{KEY}finding-victim")).await.expect("ran");
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
    let item = world.state_item(&format!("approval#{KEY}finding-retried")).await.expect("request");
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
