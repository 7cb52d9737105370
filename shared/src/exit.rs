//! The command line's contract with whoever runs it, shared by every subcommand: the usage text, the
//! exit codes and the one way a line is written before exiting.

use std::io::Write;

pub const USAGE: &str = "usage: firebreak plan FILE...        decide, no AWS call (FILE may be - for standard input)
       firebreak respond [--no-state] FILE...
                                     decide and act against the AWS endpoint of the standard AWS configuration
                                     (--no-state: UNSAFE, no state table; claims and the cap last one process)
       firebreak release INSTANCE_ID end a quarantine: restore the original security groups, remove the tags,
                                     lift the revocation of its credentials
       firebreak incidents [--json] [--limit N]
                                     recent incidents from the state table, newest first
       firebreak incidents show KEY  one incident's timeline: each step, when, its outcome
       firebreak approve KEY         approve a containment that awaits approval: it runs now, as an automatic one
                                     would (again on an approved one: the journal resumes what is unfinished)
       firebreak deny KEY            deny it: nothing is done, a person is told";

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
