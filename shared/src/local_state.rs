//! A state store that lives only as long as one process: for `firebreak respond --no-state`
//! experiments. It keeps claims, the journal and the cap within the process, and nothing across runs.

use crate::approval::{ApprovalRequest, ApprovalStatus, Approver};
use crate::error::Result;
use crate::ports::{Claim, CredentialRevocation, DenialChange, RoleDenials, StateStore};
use crate::report::{IncidentRecord, StoredIncident};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClaimState {
    Active,
    Released,
    Done,
}

#[derive(Default)]
pub struct ProcessLocalState {
    claims: RefCell<BTreeMap<String, ClaimState>>,
    steps: RefCell<BTreeMap<String, BTreeSet<String>>>,
    caps: RefCell<BTreeMap<String, u32>>,
    circuits: RefCell<BTreeSet<String>>,
    groups: RefCell<BTreeMap<String, String>>,
    originals: RefCell<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
    /// The incidents that recorded into each instance's quarantine record.
    recorded_by: RefCell<BTreeMap<String, BTreeSet<String>>>,
    revocations: RefCell<BTreeMap<String, CredentialRevocation>>,
    denials: RefCell<BTreeMap<String, RoleDenials>>,
    records: RefCell<BTreeMap<String, IncidentRecord>>,
    approvals: RefCell<BTreeMap<String, ApprovalRequest>>,
    ingress: RefCell<BTreeMap<String, BTreeSet<String>>>,
    notes: RefCell<BTreeSet<(String, &'static str)>>,
    scans: RefCell<BTreeMap<String, String>>,
    later: RefCell<BTreeMap<String, BTreeSet<String>>>,
    held: RefCell<BTreeMap<String, crate::held::HeldContainment>>,
    /// Where each instance's records belong.
    places: RefCell<BTreeMap<String, String>>,
    tallies: RefCell<BTreeMap<(String, crate::repeats::Repeat), (u64, String)>>,
}

impl ProcessLocalState {
    /// A place is kept while a record of the instance is: like an item's attribute, it goes with the last.
    fn forget_place(&self, instance: &str) {
        if !self.originals.borrow().contains_key(instance) && !self.revocations.borrow().contains_key(instance) {
            self.places.borrow_mut().remove(instance);
        }
    }

    fn stored(&self, key: &str) -> Option<StoredIncident> {
        let status = match self.claims.borrow().get(key) {
            Some(ClaimState::Done) => "done",
            Some(ClaimState::Released) => "released",
            _ => "in_progress",
        };
        let record = self.records.borrow().get(key).cloned()?;
        let later = self.later.borrow().get(key).map(|lines| lines.iter().cloned().collect()).unwrap_or_default();
        Some(StoredIncident { key: key.to_owned(), status: status.to_owned(), record, later })
    }
}

impl StateStore for ProcessLocalState {
    async fn claim(&self, key: &str, _lease_until: u64, _now: u64) -> Result<Claim> {
        let mut claims = self.claims.borrow_mut();
        let previous = claims.get(key).copied();
        Ok(match previous {
            Some(ClaimState::Done) => Claim::AlreadyDone,
            Some(ClaimState::Active) => Claim::HeldElsewhere { lease_until: 0 },
            None | Some(ClaimState::Released) => {
                claims.insert(key.to_owned(), ClaimState::Active);
                Claim::Claimed {
                    first: previous.is_none(),
                    done: self.steps.borrow().get(key).cloned().unwrap_or_default(),
                }
            }
        })
    }
    async fn finish(&self, key: &str, done: bool, step: Option<&str>, record: Option<&IncidentRecord>) -> Result<()> {
        if let Some(record) = record {
            self.records.borrow_mut().insert(key.to_owned(), record.clone());
        }
        if let Some(step) = step {
            self.steps.borrow_mut().entry(key.to_owned()).or_default().insert(step.to_owned());
        }
        let state = if done { ClaimState::Done } else { ClaimState::Released };
        self.claims.borrow_mut().insert(key.to_owned(), state);
        Ok(())
    }
    async fn incidents(&self, limit: usize) -> Result<Vec<StoredIncident>> {
        let mut all: Vec<StoredIncident> = self.records.borrow().keys().filter_map(|k| self.stored(k)).collect();
        all.sort_by_key(|i| std::cmp::Reverse(i.record.started_at));
        all.truncate(limit);
        Ok(all)
    }
    async fn incident(&self, key: &str) -> Result<Option<StoredIncident>> {
        Ok(self.stored(key))
    }
    async fn record_step(&self, key: &str, step: &str) -> Result<()> {
        self.steps.borrow_mut().entry(key.to_owned()).or_default().insert(step.to_owned());
        Ok(())
    }
    async fn take_cap_slot(&self, account: &str, window: &str, max: u32) -> Result<bool> {
        let mut caps = self.caps.borrow_mut();
        let count = caps.entry(format!("{account}#{window}")).or_default();
        if *count >= max {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
    async fn open_circuit(&self, account: &str, window: &str) -> Result<bool> {
        Ok(self.circuits.borrow_mut().insert(format!("{account}#{window}")))
    }
    async fn remember_ingress(&self, key: &str, entries: &[String], _expires_at: u64) -> Result<Vec<String>> {
        let mut ingress = self.ingress.borrow_mut();
        let set = ingress.entry(key.to_owned()).or_default();
        set.extend(entries.iter().cloned());
        Ok(set.iter().cloned().collect())
    }
    async fn forget_ingress(&self, key: &str, entries: &[String]) -> Result<()> {
        if let Some(set) = self.ingress.borrow_mut().get_mut(key) {
            entries.iter().for_each(|e| {
                set.remove(e);
            });
        }
        Ok(())
    }
    async fn created_resource(&self, scope: &str) -> Result<Option<String>> {
        Ok(self.groups.borrow().get(scope).cloned())
    }
    async fn record_created_resource(&self, scope: &str, group_id: &str, replacing: Option<&str>) -> Result<String> {
        let mut groups = self.groups.borrow_mut();
        let recorded = groups.entry(scope.to_owned()).or_insert_with(|| group_id.to_owned());
        if replacing == Some(recorded.as_str()) {
            group_id.clone_into(recorded);
        }
        Ok(recorded.clone())
    }
    async fn record_scan(&self, scan_id: &str, incident_key: &str) -> Result<()> {
        self.scans.borrow_mut().insert(scan_id.to_owned(), incident_key.to_owned());
        Ok(())
    }
    async fn scan_incident(&self, scan_id: &str) -> Result<Option<String>> {
        Ok(self.scans.borrow().get(scan_id).cloned())
    }
    async fn add_to_incident(&self, incident_key: &str, line: &str) -> Result<bool> {
        if !self.claims.borrow().contains_key(incident_key) {
            return Ok(false);
        }
        self.later.borrow_mut().entry(incident_key.to_owned()).or_default().insert(line.to_owned());
        Ok(true)
    }
    async fn record_original_groups(
        &self,
        instance: &str,
        originals: &BTreeMap<String, Vec<String>>,
        incident: &str,
        place: &str,
    ) -> Result<BTreeMap<String, Vec<String>>> {
        self.places.borrow_mut().entry(instance.to_owned()).or_insert_with(|| place.to_owned());
        self.recorded_by.borrow_mut().entry(instance.to_owned()).or_default().insert(incident.to_owned());
        let mut all = self.originals.borrow_mut();
        let recorded = all.entry(instance.to_owned()).or_default();
        for (eni, groups) in originals {
            recorded.entry(eni.clone()).or_insert_with(|| groups.clone());
        }
        Ok(recorded.clone())
    }
    async fn original_groups(&self, instance: &str) -> Result<Option<BTreeMap<String, Vec<String>>>> {
        Ok(self.originals.borrow().get(instance).cloned())
    }
    async fn forget_original_groups(&self, instance: &str) -> Result<()> {
        self.originals.borrow_mut().remove(instance);
        self.recorded_by.borrow_mut().remove(instance);
        self.forget_place(instance);
        Ok(())
    }
    async fn withdraw_original_groups(&self, instance: &str, incident: &str) -> Result<bool> {
        let sole = self.recorded_by.borrow().get(instance).is_some_and(|o| o.len() == 1 && o.contains(incident));
        if sole {
            self.forget_original_groups(instance).await?;
        }
        Ok(sole)
    }
    async fn record_revocation(
        &self,
        instance: &str,
        r: &CredentialRevocation,
        place: &str,
    ) -> Result<CredentialRevocation> {
        self.places.borrow_mut().entry(instance.to_owned()).or_insert_with(|| place.to_owned());
        Ok(self.revocations.borrow_mut().entry(instance.to_owned()).or_insert_with(|| r.clone()).clone())
    }
    async fn revocation(&self, instance: &str) -> Result<Option<CredentialRevocation>> {
        Ok(self.revocations.borrow().get(instance).cloned())
    }
    async fn forget_revocation(&self, instance: &str) -> Result<()> {
        self.revocations.borrow_mut().remove(instance);
        self.forget_place(instance);
        Ok(())
    }
    async fn recorded_place(&self, instance: &str) -> Result<Option<String>> {
        Ok(self.places.borrow().get(instance).cloned())
    }
    async fn change_denials(&self, role_id: &str, change: DenialChange<'_>) -> Result<RoleDenials> {
        let mut all = self.denials.borrow_mut();
        let denials = all.entry(role_id.to_owned()).or_default();
        match change {
            DenialChange::Add(d) => {
                denials.instances.insert(d.clone());
            }
            DenialChange::Remove(ds) => ds.iter().for_each(|d| {
                denials.instances.remove(d);
            }),
            DenialChange::Prune { gone, at } => {
                gone.iter().for_each(|d| {
                    denials.instances.remove(d);
                });
                denials.pruned_at = at;
            }
        }
        denials.version += 1;
        Ok(denials.clone())
    }
    async fn denials(&self, role_id: &str) -> Result<RoleDenials> {
        Ok(self.denials.borrow().get(role_id).cloned().unwrap_or_default())
    }
    async fn request_approval(&self, request: &ApprovalRequest) -> Result<ApprovalRequest> {
        Ok(self.approvals.borrow_mut().entry(request.key.clone()).or_insert_with(|| request.clone()).clone())
    }
    async fn replace_approval(&self, request: &ApprovalRequest, previous: &ApprovalRequest) -> Result<bool> {
        let mut all = self.approvals.borrow_mut();
        match all.get(&request.key) {
            Some(now) if now.status == previous.status && now.deadline == previous.deadline => {
                all.insert(request.key.clone(), request.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn approval(&self, key: &str) -> Result<Option<ApprovalRequest>> {
        Ok(self.approvals.borrow().get(key).cloned())
    }
    async fn approved_requests(&self) -> Result<Vec<ApprovalRequest>> {
        Ok(self.approvals.borrow().values().filter(|r| r.status == ApprovalStatus::Approved).cloned().collect())
    }
    async fn note_on_request(&self, key: &str, note: crate::approval::RequestNote, _text: &str) -> Result<bool> {
        Ok(self.approvals.borrow().contains_key(key)
            && self.notes.borrow_mut().insert((key.to_owned(), note.attribute())))
    }
    async fn settle_approval(&self, key: &str, to: ApprovalStatus, by: &Approver, now: u64) -> Result<bool> {
        let mut all = self.approvals.borrow_mut();
        let Some(request) = all.get_mut(key) else { return Ok(false) };
        let at_deadline = to == ApprovalStatus::Expired || by.via == crate::approval::Via::Deadline;
        let in_time = if at_deadline { now >= request.deadline } else { now < request.deadline };
        if request.status != ApprovalStatus::Pending || !in_time {
            return Ok(false);
        }
        request.status = to;
        request.decided = Some(by.clone());
        Ok(true)
    }
    async fn hold(&self, held: &crate::held::HeldContainment) -> Result<()> {
        let mut queue = self.held.borrow_mut();
        let first = queue.get(&held.incident_key).map(|h| (h.held_at, h.overdue_told));
        let mut held = held.clone();
        if let Some((held_at, told)) = first {
            (held.held_at, held.overdue_told) = (held_at, told);
        }
        queue.insert(held.incident_key.clone(), held);
        Ok(())
    }
    async fn held_containments(&self) -> Result<Vec<crate::held::HeldContainment>> {
        Ok(self.held.borrow().values().cloned().collect())
    }
    async fn note_held_overdue(&self, incident_key: &str) -> Result<bool> {
        Ok(self.held.borrow_mut().get_mut(incident_key).is_some_and(|h| !std::mem::replace(&mut h.overdue_told, true)))
    }
    async fn unhold(&self, incident_key: &str) -> Result<()> {
        self.held.borrow_mut().remove(incident_key);
        Ok(())
    }
    async fn count_repeat(&self, repeat: &crate::repeats::Repeat, window: &str, first: &str) -> Result<u64> {
        let mut tallies = self.tallies.borrow_mut();
        let entry = tallies.entry((window.to_owned(), repeat.clone())).or_insert_with(|| (0, first.to_owned()));
        entry.0 += 1;
        Ok(entry.0)
    }
    async fn closed_tallies(&self, window: &str) -> Result<Vec<crate::repeats::Tally>> {
        let tallies = self.tallies.borrow();
        let closed = tallies.iter().filter(|((w, _), _)| w.as_str() < window);
        Ok(closed
            .map(|((w, repeat), (count, first))| crate::repeats::Tally {
                repeat: repeat.clone(),
                window: w.clone(),
                count: *count,
                first: first.clone(),
            })
            .collect())
    }
    async fn forget_tally(&self, tally: &crate::repeats::Tally) -> Result<()> {
        self.tallies.borrow_mut().remove(&(tally.window.clone(), tally.repeat.clone()));
        Ok(())
    }
    async fn overdue_approvals(&self, now: u64) -> Result<Vec<ApprovalRequest>> {
        Ok(self
            .approvals
            .borrow()
            .values()
            .filter(|r| r.status == ApprovalStatus::Pending && now >= r.deadline)
            .cloned()
            .collect())
    }
}
