//! GuardDuty Runtime Monitoring findings on ECS against moto server: the task is stopped only when
//! `FIREBREAK_ECS_STOP_TASK` allows it, never when it carries the exemption tag.

use crate::support::ecs_runtime_finding;
use crate::world::World;
use firebreak::report::Outcome;

const STOP: [(&str, &str); 1] = [("FIREBREAK_ECS_STOP_TASK", "true")];

#[tokio::test(flavor = "current_thread")]
async fn a_task_is_stopped_only_when_the_opt_in_is_on() {
    let world = World::seed().await;
    let (cluster, task) = world.ecs_task(&[]).await;

    let report = world.respond(ecs_runtime_finding(&cluster, &task), &[]).await.remove(0);
    assert_eq!(report.actions.iter().map(|a| a.action).collect::<Vec<_>>(), ["notify"]);
    assert!(report.reasons[0].contains("FIREBREAK_ECS_STOP_TASK is off"), "{report:#?}");
    assert_eq!(world.ecs_task_desired_status(&cluster, &task).await, "RUNNING");
    let notes = world.notifications().await;
    let body = notes[0]["Message"].as_str().expect("message");
    assert!(body.contains(&format!("Task: {task}")) && body.contains("Command line: /tmp/xmrig"), "{body}");

    // The opt-in on: a later finding about the same task (another id) stops it.
    let mut again = ecs_runtime_finding(&cluster, &task);
    again["detail"]["id"] = serde_json::Value::from("f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c2");
    let report = world.respond(again, &STOP).await.remove(0);
    assert!(report.outcome_of("stop_ecs_task").is_some_and(Outcome::is_done), "{report:#?}");
    assert_eq!(world.ecs_task_desired_status(&cluster, &task).await, "STOPPED");
    let notes = world.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["MessageAttributes"]["action"]["Value"], "stopped", "{}", notes[0]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_exempt_task_is_never_stopped() {
    let world = World::seed().await;
    let (cluster, task) = world.ecs_task(&[("firebreak:exempt", "canary")]).await;
    let report = world.respond(ecs_runtime_finding(&cluster, &task), &STOP).await.remove(0);
    let Some(Outcome::Skipped { reason, .. }) = report.outcome_of("stop_ecs_task") else { panic!("{report:#?}") };
    assert!(reason.contains("exemption tag firebreak:exempt=canary"), "{reason}");
    assert_eq!(world.ecs_task_desired_status(&cluster, &task).await, "RUNNING");
}
