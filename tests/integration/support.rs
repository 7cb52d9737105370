//! Paths and helpers shared by the integration tests.

use std::path::PathBuf;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn sample_event(name: &str) -> PathBuf {
    repo_root().join("events").join(name)
}

/// Run `firebreak` with `args` and no environment; returns (exit code, stdout, stderr).
pub fn firebreak(args: &[&str], stdin: &[u8]) -> (u8, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = firebreak::cli::run(&args, |_| None, &mut &stdin[..], &mut out, &mut err);
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}
