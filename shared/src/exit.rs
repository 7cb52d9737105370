//! The command line's contract with whoever runs it, shared by every subcommand: the exit codes and
//! the one way a line is written before exiting (the usage is clap's, in `cli.rs`).

use std::io::Write;

/// Exit codes: 0 every file understood (and, for `respond`, nothing failed), 1 an action failed,
/// 2 input refused or bad usage.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_REFUSED: u8 = 2;

/// Write `line` to `to` and return the exit `code`.
pub fn report(to: &mut dyn Write, line: &str, code: u8) -> u8 {
    let _ = writeln!(to, "{line}");
    code
}
