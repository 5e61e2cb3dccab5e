//! `kestrel-load`: measures `kestrel run` end to end against a real broker,
//! beside a plain consumer as the ceiling (docs/benchmarks.md, "kestrel run
//! end to end"). A development tool: it is not part of the installed
//! `kestrel` command.

mod load;

use std::process::ExitCode;

use clap::Parser;

/// Measure `kestrel run` end to end: produce a corpus into a broker, time
/// posts/s and latency, against a plain consumer as the ceiling.
#[derive(Parser)]
#[command(name = "kestrel-load", version)]
struct Cli {
    #[command(flatten)]
    args: load::LoadArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    kestrel::logging::init(kestrel::logging::Format::Text);
    match load::run(cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each error's message already ends with its cause.
            eprintln!("kestrel-load: error: {e}");
            ExitCode::from(1)
        }
    }
}
