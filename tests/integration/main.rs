//! Firebreak's integration tests, one binary: the public corpus, the `firebreak plan` contract, and
//! the playbooks proven against moto server (started per test on 127.0.0.1, stopped after).

mod approval;
mod approval_lifecycle;
mod cli_contract;
mod config_docs;
mod containment;
mod corpus;
mod credentials;
mod dns;
mod emulator;
mod event_rules;
mod fault_proxy;
mod faults;
mod hostile;
mod iam;
mod idle_stop;
mod layers;
mod least_privilege;
mod load;
mod local_invoke;
mod metrics;
mod notifications;
mod organization;
mod perimeter;
mod pressure;
mod receipt;
mod respond_cli;
mod retention;
mod revoke;
mod runtime;
mod safety;
mod scan;
mod securityhub;
mod sequences;
mod support;
mod world;
