//! 500 mixed events through one warm handler against moto server, with 10 % of every kind of AWS call
//! throttled by the fault proxy: every event ends in a decision or an error returned for retry, and no
//! destructive effect happens twice.

use crate::fault_proxy::{Fault, FaultProxy};
use crate::support::sample_event;
use crate::world::World;
use futures::future::join_all;
use serde_json::Value;
use std::collections::BTreeMap;

fn sample(name: &str) -> String {
    std::fs::read_to_string(sample_event(name)).expect("sample")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("json")
}

#[tokio::test(flavor = "current_thread")]
async fn five_hundred_mixed_events_under_ten_percent_throttling_lose_nothing_and_repeat_nothing() {
    let world = World::seed().await;
    let mut compromised = Vec::new();
    let mut idle = Vec::new();
    let mut exposed = Vec::new();
    for n in 0..10 {
        compromised.push(world.launch(false, false).await.instance_id);
        idle.push(world.launch(false, false).await.instance_id);
        world.idle_alarm(idle.last().expect("just launched"), 0.3).await;
        exposed.push(world.exposed_group(&format!("exposed-{n}")).await);
    }
    let finding = sample("guardduty/ec2-backdoor-high-severity.json");
    let idle_alarm = sample("alarm/idle-cpu-eventbridge.json");
    let nat = sample("alarm/nat-connection-surge-sns.json");
    let open = sample("cloudtrail/sg-open-ssh-to-world.json");
    let events: Vec<Value> = (0..500)
        .map(|i| {
            let k = (i / 5) % 10;
            match i % 5 {
                // Ten findings, each delivered ten times.
                0 => json(
                    &finding
                        .replace("i-0abc1234def567890", &compromised[k])
                        .replace("a8c4e2f1b3d5c7e9f0a1b2c3d4e5f6a7", &format!("{k:032x}")),
                ),
                // Ten idle alarms, each delivered ten times.
                1 => json(&idle_alarm.replace("i-0abc1234def567890", &idle[k])),
                // A hundred distinct attack alarms.
                2 => json(&nat.replace(
                    "2026-11-24T06:00:00.456+0000",
                    &format!("2026-11-24T06:{:02}:{:02}.000+0000", i / 60, i % 60),
                )),
                // Ten groups opened, each reported by ten distinct events.
                3 => json(
                    &open
                        .replace("sg-0123456789abcdef0", &exposed[k])
                        .replace("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", &format!("00000000-0000-4000-8000-{i:012}")),
                ),
                _ => json(
                    &open
                        .replace("e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b", &format!("00000000-0000-4000-9000-{i:012}"))
                        .replace("sg-0123456789abcdef0", "sg-0000000000000dead"),
                ),
            }
        })
        .collect();

    events.iter().for_each(|e| world.guardduty_produced(e));
    let proxy = FaultProxy::start(world.endpoint()).await;
    proxy.inject_rate("*", Fault::Throttle, 10);
    let responder = world.responder_via(&proxy, &[("FIREBREAK_MAX_CONTAINMENTS_PER_HOUR", "1000")]).await;
    let clock = firebreak::clock::Clock::system();
    let deadline = clock.now().epoch + 900;

    // One warm handler, eight deliveries in flight; events returned for retry are redelivered, as
    // EventBridge and Lambda would, up to three more times.
    let mut outcomes: BTreeMap<usize, Result<Value, String>> = BTreeMap::new();
    let mut pending: Vec<usize> = (0..events.len()).collect();
    for _round in 0..4 {
        let mut still = Vec::new();
        for chunk in pending.chunks(8) {
            let results = join_all(chunk.iter().map(|&i| {
                firebreak::lambda::respond_payload(
                    events[i].clone(),
                    &responder,
                    function_for(&events[i]),
                    &clock,
                    deadline,
                )
            }))
            .await;
            for (&i, result) in chunk.iter().zip(results) {
                if result.as_ref().is_err_and(|e| e.is_retryable()) {
                    still.push(i);
                }
                outcomes.insert(i, result.map_err(|e| e.to_string()));
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
    }
    assert_eq!(outcomes.len(), 500, "every event ended in a decision or an error for retry");
    for (i, outcome) in &outcomes {
        if let Ok(value) = outcome {
            let reports = value["reports"].as_array().unwrap_or_else(|| panic!("event {i}: {value}"));
            assert!(!reports.is_empty() && reports.iter().all(|r| r["decision"].is_string()), "event {i}: {value}");
        }
    }
    // Every tenth call of the run is throttled, whichever actions those calls happen to be.
    let calls = proxy.all_calls();
    let (total, faulted): (usize, usize) = (calls.values().sum(), calls.keys().map(|a| proxy.faulted(a)).sum());
    assert!(
        faulted >= total / 10 - 1 && total > 1000,
        "the throttling really happened: {faulted} of {total}: {calls:?}"
    );
    assert!(pending.len() < 25, "after four deliveries almost everything is done: {} still pending", pending.len());

    // At most once: one set of snapshots per finding, one CreateSnapshots and one StopInstances that
    // reached the service per incident.
    for k in 0..10 {
        let snapshots = world.incident_snapshots(&format!("{k:032x}")).await.len();
        assert!(snapshots == 0 || snapshots == 2, "finding {k}: {snapshots} snapshots");
    }
    assert!(proxy.calls("CreateSnapshots") - proxy.faulted("CreateSnapshots") <= 10);
    assert!(proxy.calls("StopInstances") - proxy.faulted("StopInstances") <= 10);
    // Concurrent first containments in one VPC may each create a group; only one is recorded, and
    // every containment uses that one (the others are never used).
    assert_eq!(world.recorded_groups("firebreak-isolation").await.len(), 1);
    // At most a partial and a final notification per incident.
    let mut per_incident: BTreeMap<String, usize> = BTreeMap::new();
    for note in world.notifications().await {
        let report: Value = serde_json::from_str(note["Message"].as_str().unwrap_or("{}")).expect("report");
        *per_incident.entry(report["report"]["incident_key"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert!(per_incident.values().all(|n| *n <= 2), "{per_incident:?}");
    let contained = {
        let isolation = world.recorded_groups("firebreak-isolation").await;
        let mut n = 0;
        for id in &compromised {
            n += usize::from(world.interface_groups(id).await.iter().all(|(_, g)| *g == isolation));
        }
        n
    };
    assert!(contained >= 9, "{contained} of 10 compromised instances contained");
    let mut stopped = 0;
    for id in &idle {
        stopped += usize::from(world.instance_state(id).await == "stopped");
    }
    assert!(stopped >= 9, "{stopped} of 10 idle instances stopped");
}

/// The function that handles the event's kind, as the EventBridge rules route it.
fn function_for(event: &Value) -> firebreak::Function {
    let kind = firebreak::parse_value(event.clone()).expect("parses")[0].kind();
    firebreak::Function::ALL.into_iter().find(|f| f.kinds().contains(&kind)).expect("a function handles it")
}
