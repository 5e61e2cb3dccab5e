//! Logs of `kestrel run`: `tracing` events on stderr, as text for people or
//! one JSON object per event for log pipelines (`--log-format json`).
//!
//! Conventions every event follows: the data are fields (`rule_id`,
//! `ruleset`, `partitions`, `error`), the message is a fixed phrase, one event
//! per state change (partitions assigned or revoked, rules reloaded or not,
//! a flood demotion or its reset). Post text never appears in a log, nor do
//! secrets: alerts carry evidence, logs carry places (topic, partition,
//! offset). `KESTREL_LOG` takes a filter (`info`, `kestrel=debug`).

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per event: time, level, target, message, fields.
    Text,
    /// One JSON object per event: `timestamp`, `level`, `target`, and
    /// `fields` holding `message` and the event's fields.
    Json,
}

/// Installs the global subscriber (once; later calls do nothing).
pub fn init(format: Format) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KESTREL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in a log file.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Text => builder.try_init(),
        Format::Json => builder.json().try_init(),
    };
}
