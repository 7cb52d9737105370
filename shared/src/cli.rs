//! The `firebreak` command: `plan` (no AWS), with its exit-code contract. Lives in the library so the
//! integration tests drive exactly what the binary runs.

use crate::{decide, parse_payload, Config, Error};
use std::io::{Read, Write};

pub const USAGE: &str = "usage: firebreak plan FILE...   (FILE may be - for standard input)";

/// Exit codes: 0 every file understood (and, for `respond`, nothing failed), 1 an action failed,
/// 2 input refused or bad usage.
pub const EXIT_OK: u8 = 0;
pub const EXIT_REFUSED: u8 = 2;

/// Run the command line `args` (without the program name); returns the exit code.
pub fn run(args: &[String], lookup: impl Fn(&str) -> Option<String>, stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match args.first().map(String::as_str) {
        Some("plan") if args.len() > 1 => match Config::from_lookup(lookup) {
            Ok(config) => plan(&args[1..], &config, stdin, out, err),
            Err(e) => report(err, &format!("firebreak: {e}"), EXIT_REFUSED),
        },
        Some("help" | "--help" | "-h") => report(out, USAGE, EXIT_OK),
        _ => report(err, USAGE, EXIT_REFUSED),
    }
}

fn report(to: &mut dyn Write, line: &str, code: u8) -> u8 {
    let _ = writeln!(to, "{line}");
    code
}

/// One JSON document per file on `out`, one per line; a refused file gets one line on `err`.
fn plan(files: &[String], config: &Config, stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut code = EXIT_OK;
    for file in files {
        match read(file, stdin).and_then(|bytes| plan_document(file, &bytes, config)) {
            Ok(doc) => {
                let _ = writeln!(out, "{doc}");
            }
            Err(e) => code = report(err, &format!("firebreak: {file}: {}", one_line(&e.to_string())), EXIT_REFUSED),
        }
    }
    code
}

/// The `plan` contract: `actions` (every action of every incident in the file) and `plans`.
pub fn plan_document(file: &str, bytes: &[u8], config: &Config) -> Result<serde_json::Value, Error> {
    let plans: Vec<crate::Plan> = parse_payload(bytes)?.iter().map(|i| decide(i, &config.policy)).collect();
    plans.iter().for_each(crate::decision_log::log_decision);
    let actions: Vec<&crate::plan::PlannedAction> = plans.iter().flat_map(|p| p.actions.iter()).collect();
    Ok(serde_json::json!({ "file": file, "actions": actions, "plans": plans }))
}

fn read(file: &str, stdin: &mut dyn Read) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    // One byte over the limit is enough for the parser to refuse it with the size in the message.
    let limit = crate::events::MAX_PAYLOAD_BYTES as u64 + 1;
    let result = if file == "-" {
        stdin.take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    result.map_err(|e| Error::refused("file", format!("cannot read: {e}")))?;
    Ok(bytes)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
