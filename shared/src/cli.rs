//! The `firebreak` command line (clap): `plan` (no AWS) and the acting subcommands, with the exit-code
//! contract. Lives in the library so the integration tests drive exactly what the binary runs.

use crate::exit::EXIT_FAILED;
use crate::exit::{report, EXIT_OK, EXIT_REFUSED};
#[cfg(feature = "aws")]
use crate::ports::{Notifier, StateStore, Targets};
use crate::{decide, parse_payload, Config, Error};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::io::{Read, Write};

/// `firebreak --version`: the crate's version and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("FIREBREAK_COMMIT"), ")");

const EXIT_CODES: &str = "Exit codes: 0 every file understood (and, for respond, nothing failed); 1 an action failed; \
                          2 input refused or bad usage.";

/// The command line, as `--help` shows it. Parsed with clap; the JSON outputs and exit codes are the
/// contract (`tests/integration/cli_contract.rs`).
#[derive(Debug, Parser)]
#[command(
    name = "firebreak",
    version = VERSION,
    about = "Automatic incident response for AWS: decide what to do about an event, and do it, as the Lambda functions do",
    after_help = EXIT_CODES,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The AWS region to act in (default: AWS_REGION and the standard configuration)
    #[arg(long, global = true, value_name = "REGION")]
    region: Option<String>,
    /// The named AWS profile to use (default: AWS_PROFILE)
    #[arg(long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// The state table (default: FIREBREAK_STATE_TABLE)
    #[arg(long = "table", visible_alias = "state-table", global = true, value_name = "TABLE")]
    table: Option<String>,
    /// The notification topic's ARN (default: FIREBREAK_TOPIC_ARN)
    #[arg(long, global = true, value_name = "ARN")]
    topic: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide what to do about each event file, with no AWS call: one JSON document per file
    #[command(after_help = concat!(
        "Reads the FIREBREAK_* policy variables (thresholds, allow-lists, approval rules: the README's \
         configuration table); no AWS call, no credentials.\n\n",
        "Exit codes: 0 every file understood; 2 a file refused (one line naming the file and the field)."
    ))]
    Plan {
        /// Event files (EventBridge or SNS deliveries); - reads standard input; -- before names that start with -
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Decide and act on each event file against AWS, as the Lambda functions do
    #[command(after_help = concat!(
        "Reads FIREBREAK_TOPIC_ARN (--topic), FIREBREAK_STATE_TABLE (--table), the FIREBREAK_* policy variables, and \
         the standard AWS configuration: AWS_REGION (--region), AWS_PROFILE (--profile), AWS_ENDPOINT_URL, credentials.\n\n",
        "Exit codes: 0 every file understood and nothing failed; 1 an action failed; 2 input refused or bad usage."
    ))]
    Respond {
        /// UNSAFE: no state table; claims, journal and the blast-radius cap last one process
        #[arg(long)]
        no_state: bool,
        /// Event files; - reads standard input
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// End a quarantine: restore the original security groups, remove the tags, lift the credential revocation
    #[command(after_help = concat!(
        "Reads FIREBREAK_TOPIC_ARN (--topic), FIREBREAK_STATE_TABLE (--table), FIREBREAK_STATE_KEY_SECRET_ARN and the \
         standard AWS configuration (--region, --profile).\n\n",
        "Exit codes: 0 released; 1 a step failed; 2 refused (not an instance id, no verified record)."
    ))]
    Release {
        /// The quarantined instance (i-...)
        instance_id: String,
    },
    /// Take a domain off Firebreak's DNS Firewall list (release leaves blocks in place)
    #[command(after_help = concat!(
        "Acts in the account and region it runs in (--region, --profile), where the domain was blocked. Reads \
         FIREBREAK_STATE_TABLE (--table) and the standard AWS configuration.\n\n",
        "Exit codes: 0 unblocked, or not blocked; 1 the list could not be changed; 2 refused (not a domain Firebreak \
         blocks, no DNS Firewall recorded here)."
    ))]
    Unblock {
        /// The domain, as the block_domain step named it (its subdomains are unblocked with it)
        domain: String,
    },
    /// Run the schedule's sweep now: expired requests, approved runs not done, and the containments the cap held back
    #[command(after_help = concat!(
        "The same sweep the GuardDuty responder runs every five minutes: closes the requests nobody answered, runs \
         again the approved runs not done, then the queue of containments the blast-radius cap held back, the most \
         severe first, each confirmed with GuardDuty again. First it puts in the sweep's queue what a release before \
         the queue wrote without one (run it once after upgrading, with the break-glass role). Reads FIREBREAK_TOPIC_ARN (--topic), FIREBREAK_STATE_TABLE \
         (--table), FIREBREAK_STATE_KEY_SECRET_ARN, the FIREBREAK_* policy variables and the standard AWS configuration \
         (--region, --profile).\n\n",
        "Exit codes: 0 swept (one JSON line: what was done with each item); 1 the state table could not be read."
    ))]
    Sweep,
    /// Recent incidents from the state table, newest first; `show KEY` for one incident's timeline
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = concat!(
            "Reads FIREBREAK_STATE_TABLE (--table) and the standard AWS configuration (--region, --profile).\n\n",
            "Exit codes: 0 listed; 1 the table could not be read; 2 bad usage or no such incident."
        )
    )]
    Incidents {
        /// How to print the list
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// The same as --output json
        #[arg(long)]
        json: bool,
        /// How many incidents at most
        #[arg(long, default_value_t = DEFAULT_LIMIT, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        #[command(subcommand)]
        show: Option<IncidentsCommand>,
    },
    /// Approve a plan that awaits approval: it runs now, as an automatic one would
    #[command(after_help = concat!(
        "Reads FIREBREAK_TOPIC_ARN (--topic), FIREBREAK_STATE_TABLE (--table), FIREBREAK_STATE_KEY_SECRET_ARN and \
         the standard AWS configuration; the answer is recorded with the caller's identity as AWS authenticates it \
         (GetCallerIdentity). For an incident in a member account, invoke the GuardDuty responder instead (the \
         README's approval section).\n\n",
        "Exit codes: 0 ran and nothing failed; 1 a step failed; 2 refused."
    ))]
    Approve {
        /// The incident key from the notification
        key: String,
    },
    /// Deny a plan that awaits approval: nothing is done, a person is told
    #[command(after_help = concat!(
        "Reads FIREBREAK_TOPIC_ARN (--topic), FIREBREAK_STATE_TABLE (--table) and the standard AWS configuration; the \
         answer is recorded with the caller's identity as AWS authenticates it (GetCallerIdentity).\n\n",
        "Exit codes: 0 denied; 2 refused."
    ))]
    Deny {
        /// The incident key from the notification
        key: String,
    },
    /// Print a shell completion script (bash, zsh, fish, ...)
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), generated from this command line
    Man,
}

#[derive(Debug, Subcommand)]
enum IncidentsCommand {
    /// One incident's timeline: each step, when, its outcome
    Show {
        /// The incident key
        key: String,
    },
}

/// How `incidents` prints its list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

const DEFAULT_LIMIT: u64 = 50;

/// The command line as clap reads it, for completions and the manual page.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run the command line `args` (without the program name); returns the exit code.
pub fn run(
    args: &[String],
    lookup: impl Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(std::iter::once("firebreak".to_owned()).chain(args.iter().cloned())) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
            let text = e.render().to_string();
            return match e.kind() {
                DisplayHelp | DisplayVersion => report(out, text.trim_end(), EXIT_OK),
                _ => report(err, text.trim_end(), EXIT_REFUSED),
            };
        }
    };
    // The flags stand for their variables, ahead of the environment.
    let lookup = |name: &str| match name {
        "FIREBREAK_STATE_TABLE" if cli.table.is_some() => cli.table.clone(),
        "FIREBREAK_TOPIC_ARN" if cli.topic.is_some() => cli.topic.clone(),
        _ => lookup(name),
    };
    match &cli.command {
        Command::Completions { shell } => {
            let mut bytes = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "firebreak", &mut bytes);
            let _ = out.write_all(&bytes);
            EXIT_OK
        }
        Command::Man => match clap_mangen::Man::new(Cli::command()).render(out) {
            Ok(()) => EXIT_OK,
            Err(e) => report(err, &format!("firebreak: man: {e}"), EXIT_FAILED),
        },
        Command::Plan { files } => match Config::from_lookup(lookup) {
            Ok(config) => plan(files, &config, stdin, out, err),
            Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
        },
        #[cfg(feature = "aws")]
        acting => {
            match Config::from_lookup(lookup) {
                Ok(config) => acting_command(acting, &cli, config, stdin, out, err),
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            }
        }
        #[cfg(not(feature = "aws"))]
        acting => report(
            err,
            &format!(
                "firebreak: {} needs the AWS SDK, which this build leaves out so that plan builds fast; run: cargo run -q \
                 -p firebreak --features aws -- {} ...",
                acting.name(),
                acting.name()
            ),
            EXIT_REFUSED,
        ),
    }
}

impl Command {
    #[cfg_attr(feature = "aws", allow(dead_code))]
    fn name(&self) -> &'static str {
        match self {
            Self::Plan { .. } => "plan",
            Self::Respond { .. } => "respond",
            Self::Release { .. } => "release",
            Self::Unblock { .. } => "unblock",
            Self::Sweep => "sweep",
            Self::Incidents { .. } => "incidents",
            Self::Approve { .. } => "approve",
            Self::Deny { .. } => "deny",
            Self::Completions { .. } => "completions",
            Self::Man => "man",
        }
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

/// `respond`, `release`, `incidents`, `approve`, `deny`: the Lambda handler's code path against the
/// configured AWS endpoint.
#[cfg(feature = "aws")]
fn acting_command(
    command: &Command,
    cli: &Cli,
    config: Config,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(err, &format!("firebreak: cannot start the async runtime: {e}"), EXIT_FAILED),
    };
    runtime.block_on(async {
        let sdk = crate::aws::load_sdk_config_for(cli.region.clone(), cli.profile.as_deref()).await;
        match command {
            Command::Respond { no_state: true, files } => {
                let _ = writeln!(
                    err,
                    "firebreak: WARNING: --no-state is UNSAFE: no claims, journal or blast-radius cap survive this \
                     process; redelivered events will act again. Use it only for experiments."
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
                    handoff: None,
                };
                respond_files(files, &responder, stdin, out, err).await
            }
            Command::Incidents { output, json, limit, show } => {
                let state = match config.require_state_table() {
                    Ok(table) => crate::aws::DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), table),
                    Err(e) => return report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
                };
                match show {
                    Some(IncidentsCommand::Show { key }) => crate::history::show(key, &state, out, err).await,
                    None => {
                        let json = *json || *output == Output::Json;
                        let limit = usize::try_from(*limit).unwrap_or(usize::MAX);
                        crate::history::list(json, limit, &state, out, err).await
                    }
                }
            }
            Command::Approve { key } | Command::Deny { key } => {
                let verdict = match command {
                    Command::Approve { .. } => crate::approval::Verdict::Approve,
                    _ => crate::approval::Verdict::Deny,
                };
                match crate::lambda::operator_responder(&sdk, config).await {
                    Ok(responder) => answer(key, verdict, &responder, out, err).await,
                    Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
                }
            }
            Command::Release { instance_id } => match crate::lambda::aws_responder(&sdk, config).await {
                Ok(responder) => release(instance_id, &responder, out, err).await,
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            },
            Command::Unblock { domain } => match crate::lambda::aws_responder(&sdk, config).await {
                Ok(responder) => unblock(domain, &responder, out, err).await,
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            },
            Command::Sweep => match crate::lambda::aws_responder(&sdk, config).await {
                Ok(responder) => sweep(&responder, out, err).await,
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            },
            Command::Respond { no_state: false, files } => match crate::lambda::aws_responder(&sdk, config).await {
                Ok(responder) => respond_files(files, &responder, stdin, out, err).await,
                Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
            },
            Command::Plan { .. } | Command::Completions { .. } | Command::Man => EXIT_OK,
        }
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
    match crate::playbooks::release(&responder.targets, &responder.notifier, &responder.state, &id).await {
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

/// `sweep`: the schedule's sweep, now; one JSON line with what it did.
#[cfg(feature = "aws")]
async fn sweep(responder: &crate::lambda::AwsResponder, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let clock = crate::clock::Clock::system();
    let lease_until = clock.now().epoch + SWEEP_LEASE_SECONDS;
    let before = match responder.state.queue_what_came_before().await {
        Ok(queued) => queued,
        Err(e) => return report(err, &format!("firebreak: sweep: {}", one_line(&e.to_string())), EXIT_FAILED),
    };
    match responder.sweep(&clock, lease_until).await {
        Ok(mut swept) => {
            swept["queued_from_before"] = serde_json::Value::from(before);
            let _ = writeln!(out, "{swept}");
            EXIT_OK
        }
        Err(e) => report(err, &format!("firebreak: sweep: {}", one_line(&e.to_string())), EXIT_FAILED),
    }
}

/// How long the claims of a sweep run from a terminal last: the Lambda function's own timeout.
#[cfg(feature = "aws")]
const SWEEP_LEASE_SECONDS: u64 = 900;

/// `unblock DOMAIN`: one JSON line with the outcome.
#[cfg(feature = "aws")]
async fn unblock(
    domain: &str,
    responder: &crate::lambda::AwsResponder,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let (_, fleet) = responder.targets.home();
    let outcome = match responder.targets.home_scope().await {
        Ok(scope) => crate::playbooks::unblock(&fleet, &responder.state, &scope, domain).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(outcome) => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::json!({ "action": "unblock_domain", "domain": domain, "outcome": outcome })
            );
            EXIT_OK
        }
        Err(e) if !e.is_retryable() => {
            report(err, &format!("firebreak: unblock: {}", one_line(&e.to_string())), EXIT_REFUSED)
        }
        Err(e) => report(err, &format!("firebreak: unblock: {}", one_line(&e.to_string())), EXIT_FAILED),
    }
}

/// `approve KEY` / `deny KEY`: an operator's answer, recorded with the caller's identity; exit 0 when the
/// answer was taken and nothing failed, 1 when a step failed, 2 when refused.
#[cfg(feature = "aws")]
async fn answer(
    key: &str,
    verdict: crate::approval::Verdict,
    responder: &crate::lambda::AwsResponder,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // The approver is who AWS says is calling, never `$USER`, which anyone can set.
    let user = match responder.targets.caller_arn().await {
        Ok(arn) => Some(arn),
        Err(e) => {
            let why = format!(
                "firebreak: refused: who is answering cannot be told ({}): nothing was answered",
                one_line(&e.to_string())
            );
            return report(err, &why, EXIT_REFUSED);
        }
    };
    let clock = crate::clock::Clock::system();
    let now = clock.now().epoch;
    let by =
        crate::approval::Approver { via: crate::approval::Via::Cli, source_ip: None, user_agent: None, user, at: now };
    let lease_until = now + 15 * 60;
    use crate::playbooks::Answer;
    // The report of what ran (the approved containment, or the denial's notice), or why nothing did.
    let outcome = match responder.answer(key, verdict, by, &clock, true).await {
        Ok(Answer::Approved) => responder.run_approved(key, &clock, lease_until).await,
        Ok(Answer::Denied(rep)) => Ok(Ok(*rep)),
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
