//! Benchmarks only; see benches/ and bench/run.
