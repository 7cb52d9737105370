//! The flows: the executor that runs any plan's steps through the ports, each step's own logic, the
//! release of a quarantine, and the approval flow (answer, sweep, approved run, the URL it serves).
//! This file only names the parts; each imports its siblings, never this file.

mod approval;
mod contain;
mod context;
mod credentials;
mod dns;
mod executor;
mod ingress;
mod journal;
mod queue;
mod release;
mod repeats;
mod revoke;
mod scan;
mod steps;
mod stop_idle;
mod verify;

pub use approval::{Answer, Redrive};
pub use context::{DEADLINE_RESERVE, INSTANCE_CONCURRENCY, ORIGINAL_GROUPS_TAG, QUARANTINE_TAG};
pub use credentials::{
    denies_instance, instance_policy_name, instances_deny_document, policy_size, sessions_deny_document,
    INSTANCES_POLICY, ROLE_INLINE_POLICY_QUOTA, SESSIONS_POLICY,
};
pub use dns::unblock;
pub use executor::Responder;
pub use ingress::decide_with_state;
pub use journal::JournalKey;
pub use release::release;
pub use stop_idle::stop_refusal;

#[cfg(test)]
mod executor_tests;
