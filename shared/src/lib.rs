//! Firebreak: automatic incident response for AWS.
//!
//! Payloads become typed [`Incident`]s ([`events`]), a pure [`decide`] turns each into a [`Plan`],
//! and playbooks execute plans through narrow ports whose only real implementations live in [`aws`].

pub mod approval;
#[cfg(feature = "aws")]
pub mod aws;
pub mod cidr;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decision_log;
pub mod error;
pub mod events;
pub mod function;
pub mod history;
pub mod iam;
pub mod incident;
#[cfg(feature = "aws")]
pub mod lambda;
pub mod local_state;
pub mod metrics;
pub mod metrics_insights;
pub mod notify;
pub mod plan;
pub mod playbooks;
pub mod policy;
pub mod ports;
pub mod report;
pub mod text;

pub use config::Config;
pub use error::{Error, Result};
pub use events::{parse_payload, parse_value, parse_value_keeping_events};
pub use function::Function;
pub use incident::Incident;
pub use plan::{Plan, Step};
pub use policy::{decide, Policy};
