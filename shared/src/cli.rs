//! The `firebreak` command: `plan` (no AWS), with its exit-code contract. Lives in the library so the
//! integration tests drive exactly what the binary runs.

#[cfg(feature = "aws")]
use crate::exit::EXIT_FAILED;
use crate::exit::{report, EXIT_OK, EXIT_REFUSED, USAGE};
#[cfg(feature = "aws")]
use crate::ports::{Notifier, StateStore, Targets};
use crate::{decide, parse_payload, Config, Error};
use std::io::{Read, Write};

/// Run the command line `args` (without the program name); returns the exit code.
pub fn run(
    args: &[String],
    lookup: impl Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match args.first().map(String::as_str) {
        Some("plan") if args.len() > 1 => match Config::from_lookup(lookup) {
            Ok(config) => plan(&args[1..], &config, stdin, out, err),
            Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
        },
        #[cfg(feature = "aws")]
        Some(command @ ("respond" | "release" | "incidents" | "approve" | "deny"))
            if args.len() > 1 || command == "incidents" =>
        {
            let user = lookup("USER");
            match Config::from_lookup(lookup) {
                Ok(config) => acting(command, &args[1..], config, user, stdin, out, err),
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            }
        }
        #[cfg(not(feature = "aws"))]
        Some(command @ ("respond" | "release" | "incidents" | "approve" | "deny")) => report(
            err,
            &format!(
                "firebreak: {command} needs the AWS SDK, which this build leaves out so that plan builds fast; run: cargo \
                 run -q -p firebreak --features aws -- {command} ..."
            ),
            EXIT_REFUSED,
        ),
        Some("help" | "--help" | "-h") => report(out, USAGE, EXIT_OK),
        _ => report(err, USAGE, EXIT_REFUSED),
    }
}

/// One JSON document per file on `out`, one per line; a refused file gets one line on `err`.
fn plan(files: &[String], config: &Config, stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut code = EXIT_OK;
    for file in files {
        match read(file, stdin).and_then(|bytes| plan_document(file, &bytes, config)) {
            Ok(doc) => {
                let _ = writeln!(out, "{doc}");
            }
            Err(e) => code = report(err, &format!("firebreak: {file}: {}", one_line(&e.to_string())), EXIT_REFUSED),
        }
    }
    code
}

/// The `plan` contract: `actions` (every action of every incident in the file) and `plans`.
pub fn plan_document(file: &str, bytes: &[u8], config: &Config) -> Result<serde_json::Value, Error> {
    let plans: Vec<crate::Plan> = parse_payload(bytes)?.iter().map(|i| decide(i, &config.policy)).collect();
    plans.iter().for_each(crate::decision_log::log_decision);
    let actions: Vec<&crate::plan::PlannedStep> = plans.iter().flat_map(|p| p.actions.iter()).collect();
    Ok(serde_json::json!({ "file": file, "actions": actions, "plans": plans }))
}

fn read(file: &str, stdin: &mut dyn Read) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    // One byte over the limit is enough for the parser to refuse it with the size in the message.
    let limit = crate::events::MAX_PAYLOAD_BYTES as u64 + 1;
    let result = if file == "-" {
        stdin.take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    result.map_err(|e| Error::refused("file", format!("cannot read: {e}")))?;
    Ok(bytes)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(feature = "aws")]
/// `respond` and `release`: the Lambda handler's code path against the configured AWS endpoint.
fn acting(
    command: &str,
    args: &[String],
    config: Config,
    user: Option<String>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(err, &format!("firebreak: cannot start the async runtime: {e}"), EXIT_FAILED),
    };
    runtime.block_on(async {
        let sdk = crate::aws::load_sdk_config().await;
        if command == "respond" && args[0] == "--no-state" {
            let _ = writeln!(
                err,
                "firebreak: WARNING: --no-state is UNSAFE: no claims, journal or blast-radius cap survive this process; \
                 redelivered events will act again. Use it only for experiments."
            );
            let topic = match config.require_topic() {
                Ok(t) => t.to_owned(),
                Err(e) => return report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            };
            let (compute, fleet) = crate::aws::compute_and_fleet(&sdk, config.dry_run);
            let responder = crate::playbooks::Responder {
                targets: crate::ports::FixedTarget(compute, fleet),
                notifier: crate::aws::SnsNotifier::new(aws_sdk_sns::Client::new(&sdk), &topic),
                state: crate::local_state::ProcessLocalState::default(),
                config,
                // A request for approval outlives the process: --no-state cannot keep one.
                approvals: None,
            };
            return respond_files(&args[1..], &responder, stdin, out, err).await;
        }
        if command == "incidents" {
            let state = match config.require_state_table() {
                Ok(table) => crate::aws::DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
                Err(e) => return report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            };
            return crate::history::command(args, &state, out, err).await;
        }
        if let Some(verdict) = match command {
            "approve" => Some(crate::approval::Verdict::Approve),
            "deny" => Some(crate::approval::Verdict::Deny),
            _ => None,
        } {
            return match crate::lambda::operator_responder(&sdk, config).await {
                Ok(responder) => answer(&args[0], verdict, user, &responder, out, err).await,
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            };
        }
        let responder = match crate::lambda::aws_responder(&sdk, config).await {
            Ok(r) => r,
            Err(e) => return report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
        };
        if command == "release" {
            return release(&args[0], &responder, out, err).await;
        }
        respond_files(args, &responder, stdin, out, err).await
    })
}

#[cfg(feature = "aws")]
async fn respond_files<T: Targets, N: Notifier, S: StateStore>(
    args: &[String],
    responder: &crate::playbooks::Responder<T, N, S>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    {
        if args.is_empty() {
            return report(err, USAGE, EXIT_REFUSED);
        }
        let mut code = EXIT_OK;
        for file in args {
            let bytes = match read(file, stdin) {
                Ok(b) => b,
                Err(e) => {
                    code = code.max(report(err, &format!("firebreak: {file}: {e}"), EXIT_REFUSED));
                    continue;
                }
            };
            let payload = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    code = code.max(report(
                        err,
                        &format!("firebreak: {file}: refused: payload: not valid JSON: {e}"),
                        EXIT_REFUSED,
                    ));
                    continue;
                }
            };
            match respond_file(payload, responder).await {
                Ok((doc, failed)) => {
                    let _ = writeln!(out, "{}", serde_json::json!({"file": file, "reports": doc}));
                    if failed {
                        code = code.max(EXIT_FAILED);
                    }
                }
                Err(e) if !e.is_retryable() => {
                    code =
                        code.max(report(err, &format!("firebreak: {file}: {}", one_line(&e.to_string())), EXIT_REFUSED))
                }
                Err(e) => {
                    code =
                        code.max(report(err, &format!("firebreak: {file}: {}", one_line(&e.to_string())), EXIT_FAILED))
                }
            }
        }
        code
    }
}

/// Act on one payload; returns the reports and whether any action failed.
#[cfg(feature = "aws")]
async fn respond_file<T: Targets, N: Notifier, S: StateStore>(
    payload: serde_json::Value,
    responder: &crate::playbooks::Responder<T, N, S>,
) -> Result<(Vec<crate::report::Report>, bool), Error> {
    let incidents = crate::lambda::incidents_of(payload, &responder.config)?;
    let clock = crate::clock::Clock::system();
    // A local run gets the longest Lambda timeout as its lease.
    let lease_until = clock.now().epoch + 900;
    let mut reports = Vec::new();
    for incident in incidents {
        let plan = crate::playbooks::decide_with_state(
            &responder.state,
            &responder.config.policy,
            incident,
            clock.now().epoch,
        )
        .await;
        crate::decision_log::log_decision(&plan);
        reports.push(responder.respond(&plan, &clock, lease_until).await?);
    }
    let failed = reports.iter().any(|r| !r.failures().is_empty());
    Ok((reports, failed))
}

#[cfg(feature = "aws")]
async fn release(
    instance: &str,
    responder: &crate::lambda::AwsResponder,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(id) = crate::incident::InstanceId::parse(instance) else {
        return report(
            err,
            &format!("firebreak: release: refused: instance_id: {instance:?} is not an instance id"),
            EXIT_REFUSED,
        );
    };
    let (compute, fleet) = responder.targets.home();
    match crate::playbooks::release(&compute, &fleet, &responder.notifier, &responder.state, &id).await {
        Ok(rep) => {
            let _ = writeln!(out, "{}", serde_json::json!(rep));
            if rep.failures().is_empty() {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Err(e) if !e.is_retryable() => {
            report(err, &format!("firebreak: release: {}", one_line(&e.to_string())), EXIT_REFUSED)
        }
        Err(e) => report(err, &format!("firebreak: release: {}", one_line(&e.to_string())), EXIT_FAILED),
    }
}

/// `approve KEY` / `deny KEY`: an operator's answer, recorded with the local user; exit 0 when the
/// answer was taken and nothing failed, 1 when a step failed, 2 when refused.
#[cfg(feature = "aws")]
async fn answer(
    key: &str,
    verdict: crate::approval::Verdict,
    user: Option<String>,
    responder: &crate::lambda::AwsResponder,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let clock = crate::clock::Clock::system();
    let now = clock.now().epoch;
    let by =
        crate::approval::Approver { via: crate::approval::Via::Cli, source_ip: None, user_agent: None, user, at: now };
    let lease_until = now + 15 * 60;
    use crate::playbooks::Answer;
    // The report of what ran (the approved containment, or the denial's notice), or why nothing did.
    let outcome = match responder.answer(key, verdict, by, &clock, true).await {
        Ok(Answer::Approved) => responder.run_approved(key, &clock, lease_until).await,
        Ok(Answer::Denied(rep)) => Ok(Ok(rep)),
        Ok(Answer::Refused(why)) => Ok(Err(why)),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(Ok(rep)) => {
            let _ = writeln!(out, "{}", serde_json::json!(rep));
            if rep.failures().is_empty() {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Ok(Err(why)) => {
            report(err, &format!("firebreak: {}: refused: {}", verdict.as_str(), one_line(&why)), EXIT_REFUSED)
        }
        Err(e) => report(err, &format!("firebreak: {}: {}", verdict.as_str(), one_line(&e.to_string())), EXIT_FAILED),
    }
}
