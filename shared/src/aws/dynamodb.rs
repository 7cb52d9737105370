//! DynamoDB adapter for [`StateStore`]: one item per incident (`claim#<key>`: status, lease, and the
//! journal of finished steps) and the cap counters, in the state table (`pk` String key, TTL attribute
//! `expires_at`), written with conditional expressions.

use super::error::{aws_error, code_of};
use crate::approval::{ApprovalRequest, ApprovalStatus, Approver};
use crate::error::{Error, Result};
use crate::held::HeldContainment;
use crate::ports::{Claim, CredentialRevocation, DenialChange, DeniedInstance, RoleDenials, StateStore};
use crate::repeats::{Repeat, Tally};
use crate::report::{IncidentRecord, StoredIncident};
use crate::seal::Sealer;
use crate::state_keys;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

/// Claims and journals outlive any redelivery (GuardDuty re-emits a finding for days) but not forever.
const KEEP_SECONDS: u64 = 90 * 24 * 3600;
/// Cap counters are only needed for their hour.
const CAP_KEEP_SECONDS: u64 = 2 * 3600;
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Seals the records later decisions trust, and refuses those whose seal does not verify; `None`
    /// where no key is configured (and in the approval function, which acts on none of them).
    sealer: Option<Sealer>,
}

type Item = std::collections::HashMap<String, AttributeValue>;

impl DynamoStateStore {
    /// Put in the sweep's queue the items a release before the queue wrote without one (requests for
    /// approval, held-back containments, counts of repeats), so that the sweep, which only queries the
    /// queue, finds them: an operator's one scan after upgrading (`firebreak sweep`, with the break-glass
    /// role), never the functions'. How many were queued.
    pub async fn queue_what_came_before(&self) -> Result<usize> {
        let queues = [
            (state_keys::APPROVAL, state_keys::Queue::Approvals),
            (state_keys::HELD, state_keys::Queue::Held),
            (state_keys::TALLY, state_keys::Queue::Tallies),
        ];
        let mut queued = 0;
        for (prefix, queue) in queues {
            let items = self
                .scan_all(|scan| {
                    scan.filter_expression("begins_with(pk, :prefix) AND attribute_not_exists(#queue)")
                        .expression_attribute_names("#queue", state_keys::QUEUE_ATTRIBUTE)
                        .expression_attribute_values(":prefix", s(prefix))
                })
                .await?;
            for pk in items.iter().filter_map(|i| i.get("pk").and_then(|v| v.as_s().ok())) {
                let update = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(pk.clone()))
                    .update_expression("SET #queue = :queue")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#queue", state_keys::QUEUE_ATTRIBUTE)
                    .expression_attribute_values(":queue", s(queue.as_str()))
                    .send()
                    .await;
                // An item that expired or was settled since the scan needs no queue.
                if written("UpdateItem", update)? {
                    queued += 1;
                }
            }
        }
        Ok(queued)
    }

    /// The item of a request for approval, sealed when a sealer is configured; the caller adds the
    /// condition.
    fn approval_put(
        &self,
        request: &ApprovalRequest,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        let text = serde_json::to_string(request).unwrap_or_default();
        let seal = self.sealer.as_ref().map(|sealer| sealer.seal(&[state_keys::APPROVAL, &request.key, &text]));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(state_keys::approval(&request.key)))
            .item("status", s(request.status.as_str()))
            .item("deadline", n(request.deadline))
            .item("request", s(text))
            .item(state_keys::QUEUE_ATTRIBUTE, s(state_keys::Queue::Approvals.as_str()))
            .item("expires_at", n(request.deadline + KEEP_SECONDS));
        // The answer lives in attributes of its own (the conditional writes settle it there).
        let put = match &request.decided {
            Some(by) => put.item("decided", s(serde_json::to_string(by).unwrap_or_default())),
            None => put,
        };
        match seal {
            Some(seal) => put.item(state_keys::SEAL_ATTRIBUTE, s(seal)),
            None => put,
        }
    }

    pub fn new(client: aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self { client, table: table.to_owned(), sealer: None }
    }

    /// This store, sealing and checking with `sealer`.
    pub fn sealed_with(self, sealer: Option<Sealer>) -> Self {
        Self { sealer, ..self }
    }

    /// The original groups of `instance` in `item`, each interface's seal checked.
    fn checked_originals(&self, instance: &str, item: Option<&Item>) -> Result<BTreeMap<String, Vec<String>>> {
        let originals = originals_of(item);
        if let (Some(sealer), Some(item)) = (&self.sealer, item) {
            for (eni, groups) in &originals {
                let seal = item.get(&state_keys::interface_seal_attribute(eni)).and_then(|v| v.as_s().ok());
                let parts = [state_keys::QUARANTINE, instance, eni, &groups.join(" ")];
                if !seal.is_some_and(|seal| sealer.verifies(&parts, seal)) {
                    return Err(crate::seal::forged(&format!("{} ({eni})", state_keys::quarantine(instance))));
                }
            }
        }
        Ok(originals)
    }

    /// `update` also keeps where the record of `instance` (under `prefix`) belongs, sealed, unless a
    /// place is recorded already.
    fn with_place(
        &self,
        mut update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        sets: &mut Vec<String>,
        prefix: &str,
        instance: &str,
        place: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        sets.push("#place = if_not_exists(#place, :place)".into());
        update = update
            .expression_attribute_names("#place", state_keys::PLACE_ATTRIBUTE)
            .expression_attribute_values(":place", s(place));
        if let Some(sealer) = &self.sealer {
            sets.push("#place_seal = if_not_exists(#place_seal, :place_seal)".into());
            update = update
                .expression_attribute_names("#place_seal", state_keys::PLACE_SEAL_ATTRIBUTE)
                .expression_attribute_values(":place_seal", s(sealer.seal(&[prefix, instance, "place", place])));
        }
        update
    }

    /// Where the record of `instance` in `item` belongs, its seal checked.
    fn checked_place(&self, prefix: &str, instance: &str, item: Option<&Item>) -> Result<Option<String>> {
        let Some(place) = item.and_then(|i| i.get(state_keys::PLACE_ATTRIBUTE)).and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        if let (Some(sealer), Some(item)) = (&self.sealer, item) {
            let seal = item.get(state_keys::PLACE_SEAL_ATTRIBUTE).and_then(|v| v.as_s().ok());
            if !seal.is_some_and(|seal| sealer.verifies(&[prefix, instance, "place", place], seal)) {
                return Err(crate::seal::forged(&format!("{prefix}{instance} ({})", state_keys::PLACE_ATTRIBUTE)));
            }
        }
        Ok(Some(place.clone()))
    }

    /// The credential record of `instance` in `item`, its seal checked.
    fn checked_revocation(&self, instance: &str, item: Option<&Item>) -> Result<Option<CredentialRevocation>> {
        let Some(revocation) = revocation_of(item) else { return Ok(None) };
        if let (Some(sealer), Some(item)) = (&self.sealer, item) {
            let seal = item.get(state_keys::SEAL_ATTRIBUTE).and_then(|v| v.as_s().ok());
            if !seal.is_some_and(|seal| sealer.verifies(&revocation_parts(instance, &revocation), seal)) {
                return Err(crate::seal::forged(&state_keys::credentials(instance)));
            }
        }
        Ok(Some(revocation))
    }

    /// The request for approval in `item`, its seal checked.
    fn checked_request(&self, item: Option<&Item>) -> Result<Option<ApprovalRequest>> {
        let Some(item) = item else { return Ok(None) };
        let Some(request) = approval_of(item) else { return Ok(None) };
        let pk = item.get("pk").and_then(|v| v.as_s().ok()).map_or("", String::as_str);
        if pk != state_keys::approval(&request.key) {
            return Err(crate::seal::forged(pk));
        }
        if let (Some(sealer), true) = (&self.sealer, request.is_sealed()) {
            let text = item.get("request").and_then(|v| v.as_s().ok()).map_or("", String::as_str);
            let seal = item.get(state_keys::SEAL_ATTRIBUTE).and_then(|v| v.as_s().ok());
            if !seal.is_some_and(|seal| sealer.verifies(&[state_keys::APPROVAL, &request.key, text], seal)) {
                return Err(crate::seal::forged(&state_keys::approval(&request.key)));
            }
        }
        Ok(Some(request))
    }

    /// The requests for approval in `status` (the sweep's queue), those due by `due_by` only when given.
    async fn requests_in(&self, status: ApprovalStatus, due_by: Option<u64>) -> Result<Vec<ApprovalRequest>> {
        let filter = match due_by {
            Some(_) => "#status = :status AND deadline <= :now",
            None => "#status = :status",
        };
        let items = self
            .queued(state_keys::Queue::Approvals, |query| {
                let query = query
                    .filter_expression(filter)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status.as_str()));
                match due_by {
                    Some(now) => query.expression_attribute_values(":now", n(now)),
                    None => query,
                }
            })
            .await?;
        Ok(items.iter().filter_map(approval_of).collect())
    }

    /// The item `pk`, read consistently (what was just written is seen).
    async fn item(&self, pk: String) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| state_error(aws_error("GetItem", e)))?;
        Ok(out.item)
    }

    /// A denial set's entry: `<region>/<instance>`, and its seal when this store seals. Deterministic,
    /// so that a removal names the very entry the addition wrote.
    fn denial_entry(&self, role_id: &str, d: &DeniedInstance) -> String {
        let entry = format!("{}/{}", d.region, d.instance);
        match &self.sealer {
            Some(sealer) => format!("{entry}/{}", sealer.seal(&[state_keys::DENIALS, role_id, &entry])),
            None => entry,
        }
    }

    /// The denial set of `role_id` in `item`: each entry's seal checked, those that fail counted, not used.
    fn denials_of(&self, role_id: &str, item: Option<&Item>) -> RoleDenials {
        let mut denials = RoleDenials::default();
        let Some(item) = item else { return denials };
        let number = |name| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or_default();
        denials.version = number(state_keys::DENIALS_VERSION_ATTRIBUTE);
        denials.pruned_at = number(state_keys::DENIALS_PRUNED_ATTRIBUTE);
        let entries = item.get(state_keys::DENIED_INSTANCES_ATTRIBUTE).and_then(|v| v.as_ss().ok());
        for entry in entries.into_iter().flatten() {
            let mut parts = entry.splitn(3, '/');
            let (region, instance, seal) = (parts.next(), parts.next(), parts.next());
            let denied = region.zip(instance.and_then(crate::incident::InstanceId::parse));
            let genuine = match (&self.sealer, denied.as_ref()) {
                (_, None) => false,
                (None, Some(_)) => seal.is_none(),
                (Some(sealer), Some((region, instance))) => seal.is_some_and(|seal| {
                    sealer.verifies(&[state_keys::DENIALS, role_id, &format!("{region}/{instance}")], seal)
                }),
            };
            match denied.filter(|_| genuine) {
                Some((region, instance)) => {
                    denials.instances.insert(DeniedInstance { region: region.to_owned(), instance });
                }
                None => denials.refused += 1,
            }
        }
        denials
    }

    /// Every item of one of the sweep's queues (a query of the sparse queue index), all pages; `filter`
    /// sets a filter and its values. The index holds only the queue's items, so its cost follows the
    /// queue, never the table.
    async fn queued(
        &self,
        queue: state_keys::Queue,
        filter: impl Fn(
            aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>> {
        all_pages(|start| {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(state_keys::QUEUE_INDEX)
                .key_condition_expression("#queue = :queue")
                .expression_attribute_names("#queue", state_keys::QUEUE_ATTRIBUTE)
                .expression_attribute_values(":queue", s(queue.as_str()));
            let page = filter(query).set_exclusive_start_key(start).send();
            async move {
                let out = page.await.map_err(|e| state_error(aws_error("Query", e)))?;
                Ok((out.items().to_vec(), out.last_evaluated_key().cloned()))
            }
        })
        .await
    }

    /// Every item a filtered scan finds, all pages; `filter` sets the filter and its values.
    async fn scan_all(
        &self,
        filter: impl Fn(
            aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
    ) -> Result<Vec<Item>> {
        all_pages(|start| {
            let page = filter(self.client.scan().table_name(&self.table)).set_exclusive_start_key(start).send();
            async move {
                let out = page.await.map_err(|e| state_error(aws_error("Scan", e)))?;
                Ok((out.items().to_vec(), out.last_evaluated_key().cloned()))
            }
        })
        .await
    }

    async fn delete(&self, pk: String) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .send()
            .await
            .map_err(|e| state_error(aws_error("DeleteItem", e)))?;
        Ok(())
    }
}

/// A DynamoDB item's key, as a page's `LastEvaluatedKey` names where the next begins.
type PageKey = std::collections::HashMap<String, AttributeValue>;

/// Every item of every page: `page(start)` reads the page from `start` and says where the next begins.
async fn all_pages<F, P>(mut page: F) -> Result<Vec<Item>>
where
    F: FnMut(Option<PageKey>) -> P,
    P: std::future::Future<Output = Result<(Vec<Item>, Option<PageKey>)>>,
{
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let (found, next) = page(start).await?;
        items.extend(found);
        match next {
            Some(next) => start = Some(next),
            None => return Ok(items),
        }
    }
}

fn originals_of(item: Option<&std::collections::HashMap<String, AttributeValue>>) -> BTreeMap<String, Vec<String>> {
    item.into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let eni = k.strip_prefix(state_keys::ORIGINAL_GROUPS_ATTRIBUTE)?;
            Some((eni.to_owned(), v.as_s().ok()?.split_whitespace().map(str::to_owned).collect()))
        })
        .collect()
}

/// Run `update` with its `SET` clauses (`if_not_exists` ones keep what an earlier write put there) and
/// the record's expiry; returns the item as it is now.
/// `also` is a further clause of the update (`ADD …`), or empty.
async fn keep_first(
    update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    sets: &[impl AsRef<str>],
    also: &str,
) -> Result<Option<Item>> {
    let sets: Vec<&str> = sets.iter().map(AsRef::as_ref).collect();
    let out = update
        .update_expression(format!("SET {} {also}", sets.join(", ")).trim_end().to_owned())
        .expression_attribute_values(":expires", n(epoch() + KEEP_SECONDS))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
    Ok(out.attributes)
}

/// What a credential record's seal covers, in order.
fn revocation_parts<'a>(instance: &'a str, r: &'a CredentialRevocation) -> [&'a str; 6] {
    let enabled = if r.metadata_was_enabled { "enabled" } else { "disabled" };
    [state_keys::CREDENTIALS, instance, &r.role, &r.policy, enabled, r.metadata_tokens.as_deref().unwrap_or("")]
}

fn revocation_of(item: Option<&std::collections::HashMap<String, AttributeValue>>) -> Option<CredentialRevocation> {
    let item = item?;
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(CredentialRevocation {
        role: text("role")?,
        policy: text("policy")?,
        metadata_was_enabled: item.get("metadata_enabled").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true),
        metadata_tokens: text("metadata_tokens"),
    })
}

fn stored_incident(item: &std::collections::HashMap<String, AttributeValue>) -> Option<StoredIncident> {
    let key = item.get("pk")?.as_s().ok()?.strip_prefix(state_keys::CLAIM)?.to_owned();
    let status = item.get("status").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let record = serde_json::from_str(item.get("record")?.as_s().ok()?).ok()?;
    let later = match item.get(state_keys::LATER_ATTRIBUTE) {
        Some(AttributeValue::Ss(lines)) => {
            let mut lines = lines.clone();
            lines.sort();
            lines
        }
        _ => Vec::new(),
    };
    Some(StoredIncident { key, status, record, later })
}

/// A request for approval from its item: the request as recorded, with the status and answer as they
/// stand now (kept in attributes of their own, for the conditional writes).
fn approval_of(item: &Item) -> Option<ApprovalRequest> {
    let mut request: ApprovalRequest = serde_json::from_str(item.get("request")?.as_s().ok()?).ok()?;
    request.status = ApprovalStatus::parse(item.get("status")?.as_s().ok()?)?;
    request.decided = item.get("decided").and_then(|v| v.as_s().ok()).and_then(|v| serde_json::from_str(v).ok());
    Some(request)
}

/// A notification count from its item.
fn tally_of(item: &Item) -> Option<Tally> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let kind = text("kind")?;
    let kind = [crate::incident::Kind::Cloudtrail, crate::incident::Kind::SecurityHub]
        .into_iter()
        .find(|k| k.as_str() == kind)?;
    Some(Tally {
        repeat: Repeat { kind, account: text("account")?, what: text("what")?, who: text("who")? },
        window: text("window")?,
        count: item.get("count")?.as_n().ok()?.parse().ok()?,
        first: text("first").unwrap_or_default(),
    })
}

/// A queued containment from its item.
fn held_of(item: &Item) -> Option<HeldContainment> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let number = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<f64>().ok());
    Some(HeldContainment {
        incident_key: text("pk")?.strip_prefix(state_keys::HELD)?.to_owned(),
        event: text("event")?,
        severity: number("severity")?,
        account: text("account")?,
        held_at: item.get("held_at")?.as_n().ok()?.parse().ok()?,
        why: text("why").unwrap_or_default(),
        overdue_told: item.get("overdue_told").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    })
}

/// A conditional write's answer: `true` when it was written, `false` when its condition did not hold.
fn written<O, E, R>(
    operation: &'static str,
    result: std::result::Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<bool>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if code_of(&e) == Some(CONDITION_FAILED) => Ok(false),
        Err(e) => Err(state_error(aws_error(operation, e))),
    }
}

fn state_error(e: Error) -> Error {
    Error::State(e.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn epoch() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl StateStore for DynamoStateStore {
    async fn claim(&self, key: &str, lease_until: u64, now: u64) -> Result<Claim> {
        // One round trip: the conditional update takes the claim and returns the previous item,
        // whose `steps` are the journal of an earlier, unfinished run.
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::claim(key)))
            .update_expression("SET #status = :in_progress, lease_until = :lease, expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(pk) OR #status = :released OR (#status = :in_progress AND lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .expression_attribute_values(":released", s("released"))
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":expires", n(now + KEEP_SECONDS))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let current = match update {
            Ok(out) => {
                let first = out.attributes().is_none_or(|a| a.is_empty());
                let done = match out.attributes().and_then(|a| a.get("steps")) {
                    Some(AttributeValue::Ss(steps)) => steps.iter().cloned().collect(),
                    _ => BTreeSet::new(),
                };
                return Ok(Claim::Claimed { first, done });
            }
            Err(e) if code_of(&e) == Some(CONDITION_FAILED) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => failed.item,
                _ => None,
            },
            Err(e) => return Err(state_error(aws_error("UpdateItem", e))),
        };
        let item = current.unwrap_or_default();
        let status = item.get("status").and_then(|v| v.as_s().ok()).map(String::as_str);
        let lease_until = item.get("lease_until").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(match status {
            Some("done") => Claim::AlreadyDone,
            _ => Claim::HeldElsewhere { lease_until },
        })
    }

    async fn finish(&self, key: &str, done: bool, step: Option<&str>, record: Option<&IncidentRecord>) -> Result<()> {
        // Released claims keep their journal; only the status and lease change.
        let status = if done { "done" } else { "released" };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::claim(key)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status))
            .expression_attribute_values(":lease", n(0));
        let mut set = "SET #status = :status, lease_until = :lease".to_owned();
        if let Some(record) = record {
            set.push_str(", #record = :record, started_at = :started");
            update = update
                .expression_attribute_names("#record", "record")
                .expression_attribute_values(":record", s(serde_json::to_string(record).unwrap_or_default()))
                .expression_attribute_values(":started", n(record.started_at));
        }
        update = match step {
            Some(step) => update
                .update_expression(format!("{set} ADD steps :step"))
                .expression_attribute_values(":step", AttributeValue::Ss(vec![step.to_owned()])),
            None => update.update_expression(set),
        };
        update.send().await.map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(())
    }

    async fn incidents(&self, limit: usize) -> Result<Vec<StoredIncident>> {
        // An operator's occasional read of a small table (items expire): a filtered scan, all pages.
        let items = self
            .scan_all(|scan| {
                scan.filter_expression("begins_with(pk, :claim) AND attribute_exists(#record)")
                    .expression_attribute_names("#record", "record")
                    .expression_attribute_values(":claim", s(state_keys::CLAIM))
            })
            .await?;
        let mut found: Vec<StoredIncident> = items.iter().filter_map(stored_incident).collect();
        found.sort_by_key(|i| std::cmp::Reverse(i.record.started_at));
        found.truncate(limit);
        Ok(found)
    }

    async fn incident(&self, key: &str) -> Result<Option<StoredIncident>> {
        let item = self.item(state_keys::claim(key)).await?;
        Ok(item.as_ref().and_then(stored_incident))
    }

    async fn request_approval(&self, request: &ApprovalRequest) -> Result<ApprovalRequest> {
        let put = self.approval_put(request).condition_expression("attribute_not_exists(pk)").send().await;
        match put {
            Ok(_) => Ok(request.clone()),
            Err(e) if code_of(&e) == Some(CONDITION_FAILED) => self
                .approval(&request.key)
                .await?
                .ok_or_else(|| Error::State(format!("the approval request of {} vanished", request.key))),
            Err(e) => Err(state_error(aws_error("PutItem", e))),
        }
    }

    async fn replace_approval(&self, request: &ApprovalRequest, previous: &ApprovalRequest) -> Result<bool> {
        let put = self
            .approval_put(request)
            .condition_expression("#status = :status AND deadline = :deadline")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(previous.status.as_str()))
            .expression_attribute_values(":deadline", n(previous.deadline))
            .send()
            .await;
        written("PutItem", put)
    }

    async fn approval(&self, key: &str) -> Result<Option<ApprovalRequest>> {
        self.checked_request(self.item(state_keys::approval(key)).await?.as_ref())
    }

    async fn settle_approval(&self, key: &str, to: ApprovalStatus, by: &Approver, now: u64) -> Result<bool> {
        // The deadline settles a request once it has passed (expired, or approved by silence); a person
        // only before.
        let at_deadline = to == ApprovalStatus::Expired || by.via == crate::approval::Via::Deadline;
        let in_time = if at_deadline { "deadline <= :now" } else { "deadline > :now" };
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::approval(key)))
            .update_expression("SET #status = :to, decided = :by")
            .condition_expression(format!("#status = :pending AND {in_time}"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":pending", s(ApprovalStatus::Pending.as_str()))
            .expression_attribute_values(":by", s(serde_json::to_string(by).unwrap_or_default()))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        written("UpdateItem", update)
    }

    async fn approved_requests(&self) -> Result<Vec<ApprovalRequest>> {
        self.requests_in(ApprovalStatus::Approved, None).await
    }

    async fn note_on_request(&self, key: &str, note: crate::approval::RequestNote, text: &str) -> Result<bool> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::approval(key)))
            .update_expression("SET #note = :text")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#note)")
            .expression_attribute_names("#note", note.attribute())
            .expression_attribute_values(":text", s(text))
            .send()
            .await;
        written("UpdateItem", update)
    }

    async fn overdue_approvals(&self, now: u64) -> Result<Vec<ApprovalRequest>> {
        self.requests_in(ApprovalStatus::Pending, Some(now)).await
    }

    async fn hold(&self, held: &HeldContainment) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::held(&held.incident_key)))
            .update_expression(
                "SET #event = :event, severity = :severity, account = :account, why = :why, expires_at = :expires, \
                 held_at = if_not_exists(held_at, :held_at), #queue = :queue",
            )
            .expression_attribute_names("#event", "event")
            .expression_attribute_names("#queue", state_keys::QUEUE_ATTRIBUTE)
            .expression_attribute_values(":queue", s(state_keys::Queue::Held.as_str()))
            .expression_attribute_values(":event", s(&held.event))
            .expression_attribute_values(":severity", AttributeValue::N(held.severity.to_string()))
            .expression_attribute_values(":account", s(&held.account))
            .expression_attribute_values(":why", s(&held.why))
            .expression_attribute_values(":expires", n(epoch() + crate::held::KEPT_SECONDS))
            .expression_attribute_values(":held_at", n(held.held_at))
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(())
    }

    async fn held_containments(&self) -> Result<Vec<HeldContainment>> {
        let items = self.queued(state_keys::Queue::Held, |query| query).await?;
        Ok(items.iter().filter_map(held_of).collect())
    }

    async fn note_held_overdue(&self, incident_key: &str) -> Result<bool> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::held(incident_key)))
            .update_expression("SET overdue_told = :yes")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(overdue_told)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        written("UpdateItem", update)
    }

    async fn unhold(&self, incident_key: &str) -> Result<()> {
        self.delete(state_keys::held(incident_key)).await
    }

    async fn count_repeat(&self, repeat: &Repeat, window: &str, first: &str) -> Result<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::tally(repeat, window)))
            .update_expression(
                "ADD #count :one SET #window = :window, #kind = :kind, account = :account, what = :what, who = :who, \
                 #first = if_not_exists(#first, :first), expires_at = :expires, #queue = :queue",
            )
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#queue", state_keys::QUEUE_ATTRIBUTE)
            .expression_attribute_values(":queue", s(state_keys::Queue::Tallies.as_str()))
            .expression_attribute_names("#window", "window")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#first", "first")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":window", s(window))
            .expression_attribute_values(":kind", s(repeat.kind.as_str()))
            .expression_attribute_values(":account", s(&repeat.account))
            .expression_attribute_values(":what", s(&repeat.what))
            .expression_attribute_values(":who", s(&repeat.who))
            .expression_attribute_values(":first", s(first))
            .expression_attribute_values(":expires", n(epoch() + KEEP_SECONDS))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get("count"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1))
    }

    async fn closed_tallies(&self, window: &str) -> Result<Vec<Tally>> {
        let items = self
            .queued(state_keys::Queue::Tallies, |query| {
                query
                    .filter_expression("#window < :window")
                    .expression_attribute_names("#window", "window")
                    .expression_attribute_values(":window", s(window))
            })
            .await?;
        Ok(items.iter().filter_map(tally_of).collect())
    }

    async fn forget_tally(&self, tally: &Tally) -> Result<()> {
        self.delete(state_keys::tally(&tally.repeat, &tally.window)).await
    }

    async fn record_step(&self, key: &str, step: &str) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::claim(key)))
            .update_expression("ADD steps :step")
            .expression_attribute_values(":step", AttributeValue::Ss(vec![step.to_owned()]))
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(())
    }

    async fn take_cap_slot(&self, account: &str, window: &str, max: u32) -> Result<bool> {
        if max == 0 {
            return Ok(false);
        }
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::cap(account, window)))
            .update_expression("ADD #count :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(u64::from(max)))
            .expression_attribute_values(":expires", n(epoch() + CAP_KEEP_SECONDS))
            .send()
            .await;
        written("UpdateItem", update)
    }

    async fn open_circuit(&self, account: &str, window: &str) -> Result<bool> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(state_keys::circuit(account, window)))
            .item("expires_at", n(epoch() + CAP_KEEP_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written("PutItem", put)
    }

    async fn remember_ingress(&self, key: &str, entries: &[String], expires_at: u64) -> Result<Vec<String>> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("ADD #ranges :ranges SET expires_at = :expires")
            .expression_attribute_names("#ranges", "ranges")
            .expression_attribute_values(":ranges", AttributeValue::Ss(entries.to_vec()))
            .expression_attribute_values(":expires", n(expires_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(match out.attributes().and_then(|a| a.get("ranges")) {
            Some(AttributeValue::Ss(all)) => all.clone(),
            _ => Vec::new(),
        })
    }

    async fn forget_ingress(&self, key: &str, entries: &[String]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("DELETE #ranges :stale")
            .expression_attribute_names("#ranges", "ranges")
            .expression_attribute_values(":stale", AttributeValue::Ss(entries.to_vec()))
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(())
    }

    async fn created_resource(&self, scope: &str) -> Result<Option<String>> {
        let item = self.item(scope.to_owned()).await?;
        Ok(item.as_ref().and_then(|i| i.get("group_id")).and_then(|v| v.as_s().ok()).cloned())
    }

    async fn record_created_resource(&self, scope: &str, group_id: &str, replacing: Option<&str>) -> Result<String> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(scope))
            .update_expression("SET group_id = :group")
            .expression_attribute_values(":group", s(group_id));
        update = match replacing {
            Some(gone) => update
                .condition_expression("attribute_not_exists(group_id) OR group_id = :gone")
                .expression_attribute_values(":gone", s(gone)),
            None => update.condition_expression("attribute_not_exists(group_id)"),
        };
        if written("UpdateItem", update.send().await)? {
            return Ok(group_id.to_owned());
        }
        // Another run recorded its own first: that one is the resource.
        self.created_resource(scope)
            .await?
            .ok_or_else(|| Error::State(format!("the resource recorded under {scope} vanished")))
    }

    async fn record_scan(&self, scan_id: &str, incident_key: &str) -> Result<()> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(state_keys::scan(scan_id)))
            .item(state_keys::SCAN_INCIDENT_ATTRIBUTE, s(incident_key))
            .item("expires_at", n(epoch() + KEEP_SECONDS));
        if let Some(sealer) = &self.sealer {
            put = put.item(state_keys::SEAL_ATTRIBUTE, s(sealer.seal(&[state_keys::SCAN, scan_id, incident_key])));
        }
        put.send().await.map_err(|e| state_error(aws_error("PutItem", e)))?;
        Ok(())
    }

    async fn scan_incident(&self, scan_id: &str) -> Result<Option<String>> {
        let Some(item) = self.item(state_keys::scan(scan_id)).await? else { return Ok(None) };
        let Some(incident) = item.get(state_keys::SCAN_INCIDENT_ATTRIBUTE).and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        if let Some(sealer) = &self.sealer {
            let seal = item.get(state_keys::SEAL_ATTRIBUTE).and_then(|v| v.as_s().ok());
            if !seal.is_some_and(|seal| sealer.verifies(&[state_keys::SCAN, scan_id, incident], seal)) {
                return Err(crate::seal::forged(&state_keys::scan(scan_id)));
            }
        }
        Ok(Some(incident.clone()))
    }

    async fn add_to_incident(&self, incident_key: &str, line: &str) -> Result<bool> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::claim(incident_key)))
            .update_expression("ADD #later :line")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#later", state_keys::LATER_ATTRIBUTE)
            .expression_attribute_values(":line", AttributeValue::Ss(vec![line.to_owned()]))
            .send()
            .await;
        written("UpdateItem", update)
    }

    async fn record_original_groups(
        &self,
        instance: &str,
        originals: &BTreeMap<String, Vec<String>>,
        incident: &str,
        place: &str,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::quarantine(instance)))
            .expression_attribute_names("#owners", state_keys::QUARANTINE_OWNERS_ATTRIBUTE)
            .expression_attribute_values(":owner", AttributeValue::Ss(vec![incident.to_owned()]));
        let mut sets = vec!["expires_at = :expires".to_owned()];
        update = self.with_place(update, &mut sets, state_keys::QUARANTINE, instance, place);
        for (n, (eni, groups)) in originals.iter().enumerate() {
            let groups = groups.join(" ");
            sets.push(format!("#e{n} = if_not_exists(#e{n}, :g{n})"));
            if let Some(sealer) = &self.sealer {
                sets.push(format!("#s{n} = if_not_exists(#s{n}, :s{n})"));
                let seal = sealer.seal(&[state_keys::QUARANTINE, instance, eni, &groups]);
                update = update
                    .expression_attribute_names(format!("#s{n}"), state_keys::interface_seal_attribute(eni))
                    .expression_attribute_values(format!(":s{n}"), s(seal));
            }
            update = update
                .expression_attribute_names(format!("#e{n}"), state_keys::original_groups_attribute(eni))
                .expression_attribute_values(format!(":g{n}"), s(groups));
        }
        let item = keep_first(update, &sets, "ADD #owners :owner").await?;
        self.checked_originals(instance, item.as_ref())
    }

    async fn original_groups(&self, instance: &str) -> Result<Option<BTreeMap<String, Vec<String>>>> {
        let item = self.item(state_keys::quarantine(instance)).await?;
        Ok(Some(self.checked_originals(instance, item.as_ref())?).filter(|o| !o.is_empty()))
    }

    async fn forget_original_groups(&self, instance: &str) -> Result<()> {
        self.delete(state_keys::quarantine(instance)).await
    }

    async fn withdraw_original_groups(&self, instance: &str, incident: &str) -> Result<bool> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::quarantine(instance)))
            .condition_expression("size(#owners) = :one AND contains(#owners, :owner)")
            .expression_attribute_names("#owners", state_keys::QUARANTINE_OWNERS_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":owner", s(incident))
            .send()
            .await;
        written("DeleteItem", delete)
    }

    async fn record_revocation(
        &self,
        instance: &str,
        r: &CredentialRevocation,
        place: &str,
    ) -> Result<CredentialRevocation> {
        let mut sets: Vec<String> = [
            "expires_at = :expires",
            "#role = if_not_exists(#role, :role)",
            "#policy = if_not_exists(#policy, :policy)",
            "metadata_enabled = if_not_exists(metadata_enabled, :enabled)",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::credentials(instance)))
            .expression_attribute_names("#role", "role")
            .expression_attribute_names("#policy", "policy")
            .expression_attribute_values(":role", s(&r.role))
            .expression_attribute_values(":policy", s(&r.policy))
            .expression_attribute_values(":enabled", AttributeValue::Bool(r.metadata_was_enabled));
        if let Some(tokens) = &r.metadata_tokens {
            sets.push("metadata_tokens = if_not_exists(metadata_tokens, :tokens)".into());
            update = update.expression_attribute_values(":tokens", s(tokens));
        }
        update = self.with_place(update, &mut sets, state_keys::CREDENTIALS, instance, place);
        if let Some(sealer) = &self.sealer {
            sets.push("seal = if_not_exists(seal, :seal)".into());
            update = update.expression_attribute_values(":seal", s(sealer.seal(&revocation_parts(instance, r))));
        }
        let item = keep_first(update, &sets, "").await?;
        self.checked_revocation(instance, item.as_ref())?
            .ok_or_else(|| Error::State("the revocation record was not written".into()))
    }

    async fn revocation(&self, instance: &str) -> Result<Option<CredentialRevocation>> {
        let item = self.item(state_keys::credentials(instance)).await?;
        self.checked_revocation(instance, item.as_ref())
    }

    async fn forget_revocation(&self, instance: &str) -> Result<()> {
        self.delete(state_keys::credentials(instance)).await
    }

    async fn recorded_place(&self, instance: &str) -> Result<Option<String>> {
        for (prefix, key) in [
            (state_keys::QUARANTINE, state_keys::quarantine(instance)),
            (state_keys::CREDENTIALS, state_keys::credentials(instance)),
        ] {
            if let Some(place) = self.checked_place(prefix, instance, self.item(key).await?.as_ref())? {
                return Ok(Some(place));
            }
        }
        Ok(None)
    }

    async fn change_denials(&self, role_id: &str, change: DenialChange<'_>) -> Result<RoleDenials> {
        // DynamoDB cannot ADD to and DELETE from one attribute in one update: each change is its own.
        let (change_clause, changed, pruned_at) = match change {
            DenialChange::Add(d) => ("ADD #instances :entries, #version :one", std::slice::from_ref(d), None),
            DenialChange::Remove(ds) => ("DELETE #instances :entries ADD #version :one", ds, None),
            DenialChange::Prune { gone, at } => ("DELETE #instances :entries ADD #version :one", gone, Some(at)),
        };
        let mut clauses = Vec::new();
        let mut update = self.client.update_item().table_name(&self.table).key("pk", s(state_keys::denials(role_id)));
        if !changed.is_empty() {
            clauses.push(change_clause);
            let entries = changed.iter().map(|d| self.denial_entry(role_id, d)).collect();
            update = update
                .expression_attribute_names("#instances", state_keys::DENIED_INSTANCES_ATTRIBUTE)
                .expression_attribute_names("#version", state_keys::DENIALS_VERSION_ATTRIBUTE)
                .expression_attribute_values(":entries", AttributeValue::Ss(entries))
                .expression_attribute_values(":one", n(1));
        }
        if let Some(at) = pruned_at {
            clauses.push("SET #pruned = :at");
            update = update
                .expression_attribute_names("#pruned", state_keys::DENIALS_PRUNED_ATTRIBUTE)
                .expression_attribute_values(":at", n(at));
        }
        if clauses.is_empty() {
            return self.denials(role_id).await;
        }
        let out = update
            .update_expression(clauses.join(" "))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(self.denials_of(role_id, out.attributes.as_ref()))
    }

    async fn denials(&self, role_id: &str) -> Result<RoleDenials> {
        let item = self.item(state_keys::denials(role_id)).await?;
        Ok(self.denials_of(role_id, item.as_ref()))
    }

    async fn warm_up(&self) -> Result<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(state_keys::WARM_UP))
            .update_expression("SET expires_at = :expires")
            .expression_attribute_values(":expires", n(epoch() + CAP_KEEP_SECONDS))
            .send()
            .await
            .map_err(|e| state_error(aws_error("UpdateItem", e)))?;
        Ok(())
    }
}
