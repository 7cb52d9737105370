//! Firebreak: automatic incident response for AWS.
//!
//! Payloads become typed [`Incident`]s ([`events`]), a pure [`decide`] turns each into a [`Plan`],
//! and playbooks execute plans through narrow ports whose only real implementations live in [`aws`].
//!
//! The modules are listed by layer, top first; an import only ever points down (or sideways within
//! the pure core), and no module imports one that imports it (`shared/DESIGN.md`; the integration
//! test `layers` keeps it so).

// Entry points: wiring, the Lambda handlers, the command line.
pub mod cli;
pub mod exit;
pub mod history;
#[cfg(feature = "aws")]
pub mod lambda;

// Flows: the executor and its steps, the approval flow.
pub mod playbooks;

// Adapters: the ports' implementations.
#[cfg(feature = "aws")]
pub mod aws;
pub mod local_state;

// Ports: the traits the flows act through.
pub mod ports;

// The pure core: parse, decide, render; no I/O.
pub mod approval;
pub mod cidr;
pub mod clock;
pub mod config;
pub mod confirmation;
pub mod decision_log;
pub mod domains;
pub mod error;
pub mod events;
pub mod function;
pub mod held;
pub mod iam;
pub mod incident;
pub mod ingress_window;
pub mod metrics;
pub mod metrics_insights;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod receipt;
pub mod repeats;
pub mod report;
pub mod seal;
pub mod state_keys;
pub mod text;
pub mod write_back;

pub use config::Config;
pub use error::{Error, Result};
pub use events::{parse_guardduty_api_finding, parse_payload, parse_value, parse_value_keeping_events};
pub use function::Function;
pub use incident::Incident;
pub use plan::{Plan, Step};
pub use policy::{decide, Policy};
