//! The approval flow: answering a request for approval (by link or command), closing the ones nobody
//! answered, and serving the approval function's URL. Each answer is a conditional write on the request
//! first (single use), then the same executor as an automatic containment, or one notification that
//! nothing was done. The pure half (tokens, the stored request, the pages) is [`crate::approval`].

use super::executor::Responder;
use crate::approval::http::{form_value, Page, UrlRequest};
use crate::approval::{approved, page, ApprovalRequest, ApprovalStatus, Approver, RequestNote, Verdict, Verifier, Via};
use crate::clock::{Clock, Now};
use crate::error::Result;
use crate::policy::OnExpiry;
use crate::ports::{Containments, Notifier, StateStore, Targets};
use crate::report::{Outcome, Report};

/// How long after an approval the sweep leaves its run to the answer that started it.
const REDRIVE_GRACE_SECONDS: u64 = 120;

/// What the sweep did with one approved request whose run was not done.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Redrive {
    pub key: String,
    pub outcome: String,
}

/// Approved runs started by the sweep of the function that contains: in this very process, or handed to
/// the function that runs their kind.
struct InProcess<'a, R> {
    responder: &'a R,
    clock: &'a Clock,
    lease_until: u64,
}

impl<T: Targets, N: Notifier, S: StateStore> Containments for InProcess<'_, Responder<T, N, S>> {
    async fn contain_approved(&self, key: &str) -> Result<serde_json::Value> {
        if let Some(elsewhere) = self.responder.handoff.as_ref().and_then(|h| h.hand_off(key)) {
            return elsewhere.await;
        }
        match self.responder.run_approved(key, self.clock, self.lease_until).await? {
            Ok(report) => Ok(serde_json::json!({ "reports": [report] })),
            Err(why) => Err(crate::Error::refused("approval", why)),
        }
    }
}

/// How an answer ended.
#[derive(Debug)]
pub enum Answer {
    /// Approved (for an operator's resume: approved already): the containment is to run now, by
    /// [`Responder::run_approved`] where the answer was taken or in the function that may contain.
    Approved,
    /// Denied: nothing was done, a person was told.
    Denied(Box<Report>),
    /// Nothing changed, and why (already answered, expired, unknown incident, policy no longer contains).
    Refused(String),
}

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Answer the request for approval of incident `key` with `verdict`, as `by`. A request is answered
    /// once: the answer is a conditional write, and only its winner acts. `resume`: an operator's
    /// `firebreak approve` of an already approved request is approved again, so that its plan runs
    /// again and the journal resumes it where it stopped (a link is never honoured twice).
    pub async fn answer(
        &self,
        key: &str,
        verdict: Verdict,
        by: Approver,
        clock: &Clock,
        resume: bool,
    ) -> Result<Answer> {
        let now = clock.now();
        let Some(request) = self.state.approval(key).await? else {
            return Ok(Answer::Refused(format!("there is no request for approval of incident {key}")));
        };
        let resuming = resume && verdict == Verdict::Approve && request.status == ApprovalStatus::Approved;
        if request.status != ApprovalStatus::Pending && !resuming {
            return Ok(Answer::Refused(already(&request)));
        }
        if request.status == ApprovalStatus::Pending && now.epoch >= request.deadline {
            return Ok(Answer::Refused(format!(
                "the request expired at {}: nothing was done; a new finding asks again",
                Now::at(request.deadline).rfc3339
            )));
        }
        // Decided before the write: a plan that cannot run leaves the request as it was.
        let plan = match request.plan(&self.config.policy) {
            Ok(plan) => plan,
            Err(e) => return Ok(Answer::Refused(e.to_string())),
        };
        if !resuming && !self.state.settle_approval(key, verdict.status(), &by, now.epoch).await? {
            let current = self.state.approval(key).await?.unwrap_or(request);
            return Ok(Answer::Refused(already(&current)));
        }
        match verdict {
            Verdict::Approve => Ok(Answer::Approved),
            Verdict::Deny => {
                let why = format!("denied by a person ({}): nothing was done", by.describe());
                Ok(Answer::Denied(Box::new(self.closed(&plan, &request, "Denied", why).await)))
            }
        }
    }

    /// Run the containment of incident `key`, which the state table must hold as approved: decided
    /// again from its stored event, under a claim of its own (`approved#<key>`) whose journal makes a
    /// second run resume, not repeat. `Ok(Err(why))` when there is nothing approved to run.
    pub async fn run_approved(
        &self,
        key: &str,
        clock: &Clock,
        lease_until: u64,
    ) -> Result<std::result::Result<Report, String>> {
        let Some(request) = self.state.approval(key).await? else {
            return Ok(Err(format!("there is no request for approval of incident {key}")));
        };
        let (ApprovalStatus::Approved, Some(by)) = (request.status, request.decided.as_ref()) else {
            return Ok(Err(format!("the request for approval of {key} is {}, not approved", request.status.as_str())));
        };
        let plan = match request.plan(&self.config.policy) {
            Ok(plan) => approved(plan, by),
            Err(e) => return Ok(Err(e.to_string())),
        };
        crate::decision_log::log_decision(&plan);
        let report = self.respond(&plan, clock, lease_until).await?;
        crate::decision_log::log_report(&report);
        Ok(Ok(report))
    }

    /// Close every pending request whose deadline has passed and tell a person that nothing was done.
    /// Run on a schedule by the approval function; a request answered meanwhile is left alone.
    pub async fn expire_overdue(&self, clock: &Clock) -> Result<Vec<Report>> {
        let now = clock.now();
        let mut closed = Vec::new();
        let on_expiry = self.config.policy.approval.on_expiry;
        for request in self.state.overdue_approvals(now.epoch).await? {
            let by = Approver { via: Via::Deadline, source_ip: None, user_agent: None, user: None, at: now.epoch };
            // Silence means yes where the deployment says so: approved by the deadline, and run by the
            // re-drive of this same sweep.
            let to = if on_expiry == OnExpiry::Contain { ApprovalStatus::Approved } else { ApprovalStatus::Expired };
            if !self.state.settle_approval(&request.key, to, &by, now.epoch).await? || to == ApprovalStatus::Approved {
                continue;
            }
            let next = match (on_expiry, request.is_idle_stop()) {
                (OnExpiry::AskAgain, false) => "the next update of this finding from GuardDuty asks again",
                (OnExpiry::AskAgain, true) => "the alarm's next change to ALARM asks again",
                (_, false) => "nothing more happens unless a new finding comes (FIREBREAK_APPROVAL_ON_EXPIRY=notify)",
                (_, true) => {
                    "nothing more happens unless the alarm changes to ALARM again (FIREBREAK_APPROVAL_ON_EXPIRY=notify)"
                }
            };
            let why = format!(
                "nobody approved before the deadline {}: nothing was done; {next}",
                Now::at(request.deadline).rfc3339
            );
            match request.plan(&self.config.policy) {
                Ok(plan) => closed.push(self.closed(&plan, &request, "Expired", why).await),
                Err(e) => {
                    tracing::warn!(target: "firebreak::approval", key = request.key, error = %e, "expired request not notified")
                }
            }
        }
        Ok(closed)
    }

    /// The schedule's sweep, in the function that contains (never on the public URL's concurrency):
    /// close the requests nobody answered in time, run again the approved ones whose run is not done,
    /// then the containments the cap held back (`drain_held`), here, under claims that last until
    /// `lease_until`; last, the counts of repeated notifications whose hour is over (`tell_repeats`).
    pub async fn sweep(&self, clock: &Clock, lease_until: u64) -> Result<serde_json::Value> {
        let expired = self.expire_overdue(clock).await?;
        let here = InProcess { responder: self, clock, lease_until };
        let redriven = self.redrive_approved(&here, clock).await?;
        let held = self.drain_held(clock, lease_until).await?;
        let repeats = self.tell_repeats(clock).await?;
        Ok(serde_json::json!({ "expired": expired, "redriven": redriven, "held": held, "repeats": repeats }))
    }

    /// Run again every approved request whose run is not done (held back by the cap, exempt at the
    /// time, its invoke failed) until it completes or one approval TTL after the approval has passed.
    /// A run that cannot be started is told once, and so is giving up; a run that stays open says so
    /// itself, once (its journal).
    pub async fn redrive_approved(&self, containments: &impl Containments, clock: &Clock) -> Result<Vec<Redrive>> {
        let now = clock.now();
        let mut redriven = Vec::new();
        for request in self.state.approved_requests().await? {
            let Some(by) = &request.decided else { continue };
            // The run a person's answer started gets time to finish before the sweep doubts it; an
            // approval by the deadline starts no run of its own.
            if by.via != Via::Deadline && now.epoch < by.at + REDRIVE_GRACE_SECONDS {
                continue;
            }
            let run = crate::state_keys::approved_run(&request.key);
            if self.state.incident(&run).await?.is_some_and(|i| i.status == "done") {
                continue;
            }
            let until = by.at + self.config.approval_ttl.as_secs();
            let outcome = if now.epoch >= until {
                let why = format!(
                    "approved, but its run did not complete by {} (one approval TTL after the approval): given up, \
                     nothing more is done automatically; a person decides",
                    Now::at(until).rfc3339
                );
                if self.state.note_on_request(&request.key, RequestNote::Abandoned, &why).await? {
                    self.close_unrun(&request, "Approved, given up", why.clone(), None).await;
                }
                why
            } else {
                match containments.contain_approved(&request.key).await {
                    Ok(_) => "run again".to_owned(),
                    Err(e) => self.undelivered(&request, &e, until).await,
                }
            };
            redriven.push(Redrive { key: request.key.clone(), outcome });
        }
        Ok(redriven)
    }

    /// Ask again about the finding of `plan` (decided from GuardDuty's copy, awaiting approval) when
    /// its earlier request warrants it ([`crate::approval::asks_again`]): the request is replaced,
    /// conditionally (one delivery of an update asks once), so its old links stop working, and a person
    /// is told what changed. `None`: nothing new to ask.
    pub(super) async fn ask_again(&self, plan: &crate::Plan, key: &str, now: &Now) -> Result<Option<Report>> {
        use crate::incident::IncidentKind::Guardduty;
        let (Some(signer), Some(event)) = (&self.approvals, plan.incident.event.clone()) else { return Ok(None) };
        let Some(previous) = self.state.approval(key).await? else { return Ok(None) };
        let Ok(before) = previous.plan(&self.config.policy) else { return Ok(None) };
        let (Guardduty(was), Guardduty(is)) = (&before.incident.kind, &plan.incident.kind) else { return Ok(None) };
        let on_expiry = self.config.policy.approval.on_expiry;
        let Some(what) = crate::approval::asks_again(&previous, was, is, on_expiry) else { return Ok(None) };
        let mut plan = plan.clone();
        plan.reasons.insert(0, what);
        let request = ApprovalRequest::of(&plan, key, event, now.epoch, signer.ttl());
        if !self.state.replace_approval(&request, &previous).await? {
            return Ok(None);
        }
        let mut report = Report::new(&plan);
        super::executor::awaiting(&plan, &mut report, signer, key, request.deadline);
        self.tell(&plan, &mut report).await;
        Ok(Some(report))
    }

    /// A finding that waited for a person and that GuardDuty has since raised past the automatic
    /// threshold (`plan`, from GuardDuty's copy, contains or revokes): the policy decides as for any
    /// finding at that severity. The request is replaced by one approved by the policy (conditionally,
    /// so one delivery runs it), and the plan runs as an approved one, under its claim. `None` when no
    /// request is there to supersede, or it was approved already (its run is the sweep's).
    pub(super) async fn run_past_threshold(
        &self,
        plan: &crate::Plan,
        key: &str,
        clock: &Clock,
        lease_until: u64,
    ) -> Result<Option<Report>> {
        let (Some(signer), Some(event)) = (&self.approvals, plan.incident.event.clone()) else { return Ok(None) };
        let Some(previous) = self.state.approval(key).await? else { return Ok(None) };
        if previous.status == ApprovalStatus::Approved {
            return Ok(None);
        }
        let now = clock.now();
        let mut request = ApprovalRequest::of(plan, key, event, now.epoch, signer.ttl());
        request.status = ApprovalStatus::Approved;
        request.decided =
            Some(Approver { via: Via::Policy, source_ip: None, user_agent: None, user: None, at: now.epoch });
        if !self.state.replace_approval(&request, &previous).await? {
            return Ok(None);
        }
        Ok(self.run_approved(key, clock, lease_until).await?.ok())
    }

    /// Publish `report`'s notification, record how that went as its notify step, and log it.
    async fn tell(&self, plan: &crate::Plan, report: &mut Report) {
        let notification = crate::notify::render(report, &plan.incident.origin, Some(&plan.incident), self.rendering());
        let outcome =
            self.notifier.publish(&notification).await.map_or_else(Outcome::failed, |()| Outcome::done("published"));
        report.push(crate::plan::StepKind::Notify.name(), outcome);
        crate::decision_log::log_report(report);
    }

    /// An approved run that could not be started: logged as an error, and told once (SNS and the
    /// request's record) with what to do; the sweep retries it until `until`.
    async fn undelivered(&self, request: &ApprovalRequest, error: &crate::Error, until: u64) -> String {
        let function = match request.is_idle_stop() {
            true => self.config.idle_stop_function.as_deref().unwrap_or("firebreak-alarm-responder"),
            false => self.config.containment_function.as_deref().unwrap_or("firebreak-guardduty-responder"),
        };
        let why = format!(
            "approved, but the run could not be started ({error}); the sweep starts it again every few minutes until {}. \
             To start it now: aws lambda invoke --function-name {function} --cli-binary-format raw-in-base64-out \
             --payload '{{\"{}\": \"{}\"}}' out.json (works for member accounts too)",
            Now::at(until).rfc3339,
            crate::approval::APPROVED_PAYLOAD,
            request.key
        );
        tracing::error!(target: "firebreak::approval", key = request.key, error = %error, "approved run not started");
        match self.state.note_on_request(&request.key, RequestNote::Undelivered, &why).await {
            Ok(true) => self.close_unrun(request, "Approved, not run yet", why.clone(), Some(until)).await,
            Ok(false) => {}
            Err(e) => tracing::error!(target: "firebreak::approval", key = request.key, error = %e, "not noted"),
        }
        why
    }

    /// The notification of an approved request whose run has not happened (and is retried until
    /// `retrying_until`).
    async fn close_unrun(&self, request: &ApprovalRequest, how: &str, why: String, retrying_until: Option<u64>) {
        let step_why = match retrying_until {
            Some(_) => "approved; not run yet",
            None => "approved; never run",
        };
        match request.plan(&self.config.policy) {
            Ok(plan) => {
                self.closed_with(&plan, request, how, why, step_why.to_owned(), retrying_until).await;
            }
            Err(e) => tracing::error!(target: "firebreak::approval", key = request.key, error = %e, "not notified"),
        }
    }

    /// The report and notification of a request closed without acting.
    async fn closed(&self, plan: &crate::Plan, request: &ApprovalRequest, how: &str, why: String) -> Report {
        self.closed_with(plan, request, how, why.clone(), why, None).await
    }

    /// [`Self::closed`], each step saying `step_why`, and the run retried until `retrying_until`.
    async fn closed_with(
        &self,
        plan: &crate::Plan,
        request: &ApprovalRequest,
        how: &str,
        why: String,
        step_why: String,
        retrying_until: Option<u64>,
    ) -> Report {
        let mut report = Report::new(plan);
        report.incident_key = request.key.clone();
        report.decision = crate::plan::Decision::AwaitApproval;
        report.summary = format!("{how}: {}", request.summary);
        report.reasons.insert(0, why);
        report.retrying_until = retrying_until;
        let multi = plan.instances().len() > 1;
        for step in plan.acting_steps() {
            report.push(step.name(), Outcome::skipped(step_why.clone()));
            if let (true, Some(id), Some(last)) = (multi, step.instance_id(), report.actions.last_mut()) {
                last.target = Some(id.to_string());
            }
        }
        self.tell(plan, &mut report).await;
        report
    }
}

impl<T: Targets, N: Notifier, S: StateStore> Responder<T, N, S> {
    /// Serve one function URL request; an approved containment runs through `containments`.
    pub async fn serve(
        &self,
        request: UrlRequest,
        verifier: &Verifier,
        containments: &impl Containments,
        clock: &Clock,
    ) -> Page {
        let now = clock.now().epoch;
        let (method, token) = match request.request_context.http.method.as_str() {
            "GET" | "HEAD" => ("GET", form_value(request.raw_query_string.as_deref().unwrap_or_default(), "token")),
            "POST" => {
                let body = request.body.clone().unwrap_or_default();
                let body = if request.is_base64_encoded {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(body.as_bytes())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default()
                } else {
                    body
                };
                // The page's button sends the token in the URL and an empty body: behind CloudFront's origin
                // access control, a body's hash must be signed, and an empty one's is known in advance.
                let query = request.raw_query_string.as_deref().unwrap_or_default();
                ("POST", form_value(&body, "token").or_else(|| form_value(query, "token")))
            }
            _ => return Page::new(405, page::refused("Only GET (to look) and POST (to answer) are served here.")),
        };
        let Some(token_text) = token.filter(|t| !t.is_empty()) else {
            return Page::new(400, page::refused("This link carries no approval token."));
        };
        let token = match verifier.verify(&token_text, now) {
            Ok(token) => token,
            Err(refusal) => return Page::new(403, page::refused(&refusal.to_string())),
        };
        let request_record = match self.state.approval(&token.key).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Page::new(404, page::refused(&format!("There is no request for approval of {}.", token.key)))
            }
            Err(e) => {
                return Page::new(503, page::refused(&format!("The state table is unavailable ({e}); try again.")))
            }
        };
        if token.deadline != request_record.deadline {
            return Page::new(
                409,
                page::refused(&format!(
                    "This link was replaced by a newer request about the same finding (asked at {}): use the newest \
                     notification's links.",
                    Now::at(request_record.requested_at).rfc3339
                )),
            );
        }
        if method == "GET" {
            if request_record.status != ApprovalStatus::Pending {
                let by = request_record.decided.as_ref().map(|b| format!(" ({})", b.describe())).unwrap_or_default();
                return Page::new(
                    409,
                    page::refused(&format!("This request was already {}{by}.", request_record.status.as_str())),
                );
            }
            return Page::new(200, page::confirmation(&request_record, token.verdict, &token_text));
        }
        let http = &request.request_context.http;
        let by = Approver {
            via: Via::Link,
            source_ip: http.source_ip.clone(),
            // The header itself (`requestContext.http.userAgent` is documented as its copy).
            user_agent: request.headers.get("user-agent").or(http.user_agent.as_ref()).cloned(),
            user: None,
            at: now,
        };
        tracing::info!(target: "firebreak::approval", key = token.key, verdict = token.verdict.as_str(), by = by.describe(), "answer");
        match self.answer(&token.key, token.verdict, by, clock, false).await {
            Ok(Answer::Approved) => match containments.contain_approved(&token.key).await {
                Ok(ran) => {
                    let report = ran.pointer("/reports/0").cloned().unwrap_or(ran);
                    Page::new(200, page::result(&request_record, "Approved: the containment ran", &report))
                }
                Err(e) => {
                    let until = now + self.config.approval_ttl.as_secs();
                    self.undelivered(&request_record, &e, until).await;
                    Page::new(
                        503,
                        page::refused(&format!(
                            "The approval is recorded, but the containment could not be run now ({e}). Firebreak runs \
                             it again within minutes and has told the team; nothing more is needed from you."
                        )),
                    )
                }
            },
            Ok(Answer::Denied(report)) => {
                let report = serde_json::to_value(&report).unwrap_or_default();
                Page::new(200, page::result(&request_record, "Denied: nothing was done", &report))
            }
            Ok(Answer::Refused(why)) => Page::new(409, page::refused(&why)),
            Err(e) => Page::new(
                503,
                page::refused(&format!(
                    "Firebreak could not record the answer ({e}); this link still works until its deadline."
                )),
            ),
        }
    }
}

fn already(request: &ApprovalRequest) -> String {
    let by = request.decided.as_ref().map(|b| format!(" ({})", b.describe())).unwrap_or_default();
    format!("this request was already {}{by}: nothing was done now", request.status.as_str())
}
