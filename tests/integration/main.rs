//! Firebreak's integration tests, one binary: the public corpus, the `firebreak plan` contract, and
//! (where noted) playbooks proven against moto server.

mod cli_contract;
mod corpus;
mod support;
