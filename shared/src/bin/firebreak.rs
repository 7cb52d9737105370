//! The local runner; everything it does lives in [`firebreak::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    firebreak::decision_log::init_logging("off");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = firebreak::cli::run(
        &args,
        |name| std::env::var(name).ok(),
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
