//! The Lambda handler every function shares: parse, decide, log the decision record, execute the plan,
//! return the reports. Refused input is answered, not retried; failed actions return an error so that
//! EventBridge/Lambda retry the event (the journal makes the retry resume, not repeat).

use crate::aws::{AwsTargets, DynamoStateStore, SnsNotifier};
use crate::clock::Clock;
use crate::incident::Kind;
use crate::playbooks::decide_with_state;
use crate::playbooks::Responder;
use crate::ports::{HandOff, Notifier, StateStore, Targets};
use crate::{parse_value, Config, Error, Function, Plan};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{json, Value};

/// The responder every function and `firebreak respond` run: real AWS ports from one `SdkConfig`.
pub type AwsResponder = Responder<AwsTargets, SnsNotifier, DynamoStateStore>;

/// Build the responder once per process: clients from one `SdkConfig`, the function's own account
/// learned from STS.
pub async fn aws_responder(sdk: &aws_config::SdkConfig, config: Config) -> Result<AwsResponder, Error> {
    let approvals = match config.require_approval()? {
        Some((url, arn)) => Some(crate::aws::approval_signer(sdk, arn, url, config.approval_ttl).await?),
        None => None,
    };
    let sealer = sealer(sdk, &config).await?;
    let handoff = config.idle_stop_function.clone().map(|function| {
        Box::new(crate::aws::LambdaContainments::new(sdk, vec![(Kind::Alarm, function)])) as Box<dyn HandOff>
    });
    Ok(Responder { handoff, ..responder_with(sdk, config, approvals, sealer)? })
}

/// The sealer of the trusted records, when a key is configured.
async fn sealer(sdk: &aws_config::SdkConfig, config: &Config) -> Result<Option<crate::seal::Sealer>, Error> {
    match &config.state_key_secret_arn {
        Some(arn) => Ok(Some(crate::aws::state_sealer(sdk, arn).await?)),
        None => Ok(None),
    }
}

/// The approval function's responder (its state table and topic: it never contains), the keys it
/// verifies links with (one per asking function), and the functions it asks to run approved plans. Its
/// own URL is not in its environment (the template cannot name a function's URL in that function), so
/// only the keys are required.
pub async fn approval_responder(
    sdk: &aws_config::SdkConfig,
    config: Config,
) -> Result<(AwsResponder, crate::approval::Verifier, crate::aws::LambdaContainments), Error> {
    let arn = config
        .approval_secret_arn
        .as_deref()
        .ok_or_else(|| Error::config("FIREBREAK_APPROVAL_SECRET_ARN", "required by the approval function"))?;
    let mut signers = vec![(Kind::Guardduty, crate::aws::approval_signer(sdk, arn, "", config.approval_ttl).await?)];
    let function = config.containment_function.clone().ok_or_else(|| {
        Error::config(
            "FIREBREAK_CONTAINMENT_FUNCTION",
            "required by the approval function: who runs approved containments",
        )
    })?;
    let mut functions = vec![(Kind::Guardduty, function)];
    match (&config.idle_approval_secret_arn, &config.idle_stop_function) {
        (Some(arn), Some(function)) => {
            signers.push((Kind::Alarm, crate::aws::approval_signer(sdk, arn, "", config.approval_ttl).await?));
            functions.push((Kind::Alarm, function.clone()));
        }
        (None, None) => {}
        _ => {
            return Err(Error::config(
                "FIREBREAK_IDLE_APPROVAL_SECRET_ARN",
                "set together with FIREBREAK_IDLE_STOP_FUNCTION (approved idle stops need both)",
            ))
        }
    }
    let containments = crate::aws::LambdaContainments::new(sdk, functions);
    // It acts on no trusted record, so it holds no sealing key.
    Ok((responder_with(sdk, config, None, None)?, crate::approval::Verifier::new(signers), containments))
}

/// An operator's responder (`firebreak approve|deny`): it runs approved plans and asks for nothing.
pub async fn operator_responder(sdk: &aws_config::SdkConfig, config: Config) -> Result<AwsResponder, Error> {
    let sealer = sealer(sdk, &config).await?;
    responder_with(sdk, config, None, sealer)
}

fn responder_with(
    sdk: &aws_config::SdkConfig,
    config: Config,
    approvals: Option<crate::approval::Signer>,
    sealer: Option<crate::seal::Sealer>,
) -> Result<AwsResponder, Error> {
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(sdk), config.require_topic()?);
    let state =
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(sdk), config.require_state_table()?).sealed_with(sealer);
    let targets = AwsTargets::new(sdk, &config.member_role_name, config.member_external_id.as_deref(), config.dry_run);
    Ok(Responder { targets, notifier, state, config, approvals, handoff: None })
}

/// Open the connection to the state table during init, best effort and bounded: the claim is the first
/// call of every incident. Init never fails because of it.
pub async fn warm_up(responder: &AwsResponder) {
    match tokio::time::timeout(std::time::Duration::from_secs(2), responder.state.warm_up()).await {
        Ok(Ok(())) => tracing::debug!(target: "firebreak::init", "state table connection warmed"),
        Ok(Err(e)) => {
            tracing::warn!(target: "firebreak::init", error = %e, "warm-up failed; the first incident opens the connection")
        }
        Err(_) => {
            tracing::warn!(target: "firebreak::init", "warm-up timed out; the first incident opens the connection")
        }
    }
}

/// A responder function's whole life: logging, typed configuration, clients from one `SdkConfig`, the
/// table's connection opened, then every invocation handled as `function`. Each responder's `main` is
/// this one call.
pub async fn serve(function: Function) -> Result<(), lambda_runtime::Error> {
    crate::decision_log::init_logging("info");
    let config = Config::from_env()?;
    let sdk = crate::aws::load_sdk_config().await;
    let responder = aws_responder(&sdk, config).await?;
    warm_up(&responder).await;
    let responder = &responder;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
        respond_event(event, responder, function)
    }))
    .await
}

/// Handle one delivery for `function`.
pub async fn respond_event<T: Targets, N: Notifier, S: StateStore>(
    event: LambdaEvent<Value>,
    responder: &Responder<T, N, S>,
    function: Function,
) -> Result<Value, Error> {
    let request_id = event.context.request_id.clone();
    responder.targets.observe_function_arn(&event.context.invoked_function_arn);
    // The claim lasts until the invocation's deadline, so a crashed run's incident is retried.
    let clock = Clock::system();
    let lease_until = deadline_epoch(event.context.deadline, clock.now().epoch) + 1;
    tracing::debug!(target: "firebreak::invocation", request_id, deadline_ms = event.context.deadline, lease_until, "invocation");
    match respond_payload_with(event.payload, responder, function, &clock, lease_until, &crate::metrics::emit).await {
        Ok(reports) => Ok(reports),
        Err(e) => refusal(&request_id, e),
    }
}

/// Handle one invocation of the approval function: a function URL request (answered with a page,
/// never an error: a browser shows it) or the schedule's sweep of expired requests.
pub async fn approval_event<T: Targets, N: Notifier, S: StateStore>(
    event: LambdaEvent<Value>,
    responder: &Responder<T, N, S>,
    verifier: &crate::approval::Verifier,
    containments: &impl crate::ports::Containments,
) -> Result<Value, Error> {
    let clock = Clock::system();
    match crate::approval::http::invocation(event.payload) {
        Ok(crate::approval::http::Invocation::Url(request)) => {
            Ok(responder.serve(request, verifier, containments, &clock).await.to_response())
        }
        Ok(crate::approval::http::Invocation::MalformedUrl(why)) => {
            tracing::warn!(target: "firebreak::approval", why, "malformed function URL request");
            Ok(crate::approval::http::Page::malformed(&why).to_response())
        }
        Ok(crate::approval::http::Invocation::Sweep) => refusal(
            &event.context.request_id,
            Error::refused("payload", "the schedule's sweep runs in the containment sweeper, not here"),
        ),
        Err(e) => refusal(&event.context.request_id, e),
    }
}

/// Lambda sends the deadline as epoch milliseconds; local emulators (`cargo lambda watch`) send the
/// remaining time instead. A value before 2001 cannot be a real deadline, so it is read as a duration.
pub fn deadline_epoch(deadline_ms: u64, now_epoch: u64) -> u64 {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    if deadline_ms < YEAR_2001_MS {
        now_epoch + deadline_ms / 1000
    } else {
        deadline_ms / 1000
    }
}

/// Parse, decide and act on one payload; `Err` for refusals and for anything worth retrying. Steps
/// that failed in a way no retry can fix (`AccessDenied`, a refused request) are reported, notified
/// and acknowledged: redelivering the event three times would only repeat the failure.
pub async fn respond_payload<T: Targets, N: Notifier, S: StateStore>(
    payload: Value,
    responder: &Responder<T, N, S>,
    function: Function,
    clock: &Clock,
    lease_until: u64,
) -> Result<Value, Error> {
    respond_payload_with(payload, responder, function, clock, lease_until, &|_| {}).await
}

/// [`respond_payload`], handing each incident's metrics record (Embedded Metric Format) to `metrics`.
pub async fn respond_payload_with<T: Targets, N: Notifier, S: StateStore>(
    payload: Value,
    responder: &Responder<T, N, S>,
    function: Function,
    clock: &Clock,
    lease_until: u64,
    metrics: &dyn Fn(&Value),
) -> Result<Value, Error> {
    if let Some(key) = payload.get(crate::approval::APPROVED_PAYLOAD) {
        // Boxed, as every run below: a plan's run is a large future, and a debug build polls it on the stack.
        return Box::pin(run_approved(key, responder, function, clock, lease_until, metrics)).await;
    }
    // The schedule's sweep runs in the sweeper alone, on a concurrency of its own: neither a flood at
    // the public URL nor the containments it runs again take the containment function's executions.
    match (function.runs_the_sweep(), crate::approval::http::is_schedule(&payload)) {
        (true, true) => return Box::pin(responder.sweep(clock, lease_until)).await,
        (true, false) => {
            return Err(Error::refused("payload", "the containment sweeper runs only its schedule's sweep"));
        }
        (false, true) => {
            return Err(Error::refused("payload", "the schedule's sweep runs in the containment sweeper, not here"));
        }
        (false, false) => {}
    }
    let incidents = incidents_of(payload, &responder.config)?;
    if let Some(other) = incidents.iter().find(|i| !function.handles_incident(i)) {
        let handled: Vec<&str> = function.kinds().iter().map(|k| k.as_str()).collect();
        let by = Function::for_incident(other).map_or_else(String::new, |f| format!("; {} handles it", f.name()));
        return Err(Error::refused(
            "payload",
            format!(
                "a {} incident is not handled by this function (it handles {}{by})",
                other.kind(),
                handled.join(", ")
            ),
        ));
    }
    let mut plans: Vec<Plan> = Vec::with_capacity(incidents.len());
    for incident in incidents {
        plans.push(decide_with_state(&responder.state, &responder.config.policy, incident, clock.now().epoch).await);
    }
    let mut reports = Vec::with_capacity(plans.len());
    for plan in &plans {
        crate::decision_log::log_decision(plan);
        let millis = || u64::try_from(clock.since_epoch().as_millis()).unwrap_or(u64::MAX);
        let report = match Box::pin(responder.respond(plan, clock, lease_until)).await {
            Ok(report) => report,
            Err(e) => {
                if matches!(e, Error::State(_)) {
                    metrics(&crate::metrics::fail_closed_record(function, millis()));
                }
                return Err(e);
            }
        };
        crate::decision_log::log_report(&report);
        metrics(&crate::metrics::incident_record(function, &report, millis()));
        reports.push(report);
    }
    let failures: Vec<(String, &Error)> = reports
        .iter()
        .flat_map(|r| {
            r.actions
                .iter()
                .filter_map(move |a| a.outcome.error().map(|e| (format!("{} {}", r.incident_key, a.action), e)))
        })
        .collect();
    if !failures.is_empty() {
        let total = reports.iter().map(|r| r.actions.len()).sum();
        let error = Error::combined(failures, total);
        if error.is_retryable() {
            return Err(error);
        }
        tracing::error!(target: "firebreak::decision", error = %error, "steps failed; a retry cannot help, so the event is acknowledged");
    }
    Ok(json!({ "reports": reports }))
}

/// The incidents of a payload, with their events kept where the policy may ask for approval.
pub fn incidents_of(payload: Value, config: &Config) -> Result<Vec<crate::Incident>, Error> {
    if config.policy.asks_for_approval() {
        crate::parse_value_keeping_events(payload)
    } else {
        parse_value(payload)
    }
}

/// The approval function's (or the sweep's) request to run an approved plan. Only the function that
/// handles its kind runs it, and only what its state table holds as approved; the report is returned
/// whatever its outcomes (a person waits for it; nothing redelivers a click).
async fn run_approved<T: Targets, N: Notifier, S: StateStore>(
    key: &Value,
    responder: &Responder<T, N, S>,
    function: Function,
    clock: &Clock,
    lease_until: u64,
    metrics: &dyn Fn(&Value),
) -> Result<Value, Error> {
    let field = crate::approval::APPROVED_PAYLOAD;
    let Some(key) = key.as_str() else { return Err(Error::refused(field, "expected an incident key")) };
    // The kind the key names is the stored event's (`ApprovalRequest::plan` checks the key).
    match crate::state_keys::incident_kind(key) {
        Some(kind) if function.handles(kind) && function != Function::ApprovalResponder => {}
        _ => return Err(Error::refused(field, format!("{} does not run the approved plan of {key}", function.name()))),
    }
    match responder.run_approved(key, clock, lease_until).await? {
        Ok(report) => {
            let millis = u64::try_from(clock.since_epoch().as_millis()).unwrap_or(u64::MAX);
            metrics(&crate::metrics::incident_record(function, &report, millis));
            Ok(json!({ "reports": [report] }))
        }
        Err(why) => Err(Error::refused(field, why)),
    }
}

/// A refused payload is logged and acknowledged, so Lambda does not retry what cannot succeed.
pub(crate) fn refusal(request_id: &str, error: Error) -> Result<Value, Error> {
    if error.is_retryable() {
        tracing::error!(target: "firebreak::decision", request_id, error = %error, "failed; returned for retry");
        return Err(error);
    }
    tracing::warn!(target: "firebreak::decision", request_id, decision = "refused", error = %error, "refused");
    Ok(json!({ "refused": error.to_string() }))
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Self {
        let kind = match &error {
            Error::Refused { .. } => "Refused",
            Error::Config { .. } => "Config",
            Error::Aws { .. } => "Aws",
            Error::State(_) => "StateUnavailable",
            Error::HeldElsewhere(_) => "HeldElsewhere",
            Error::Deadline(_) => "Deadline",
            Error::LeftOpen { .. } => "LeftOpen",
            Error::Unverified { .. } => "Unverified",
            Error::ActionsFailed { .. } => "ActionsFailed",
        };
        Diagnostic { error_type: kind.to_owned(), error_message: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::deadline_epoch;

    #[test]
    fn a_deadline_is_epoch_milliseconds_or_a_local_emulators_duration() {
        assert_eq!(deadline_epoch(1_795_503_374_000, 1_795_503_314), 1_795_503_374);
        assert_eq!(deadline_epoch(600_000, 1_795_503_314), 1_795_503_914);
    }
}
