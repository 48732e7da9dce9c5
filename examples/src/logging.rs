//! The programs' log: every line on standard error, stamped with the time
//! (UTC) and its level, as plain text (for journald or a terminal) or as
//! JSON lines (for a log shipper).
//!
//! Levels: `error` (the program stops, or something needs a person now),
//! `warn` (something is wrong, the program carries on: alerts, a broker
//! that cannot be reached), `info` (what happens: start, nodes answering,
//! notifications), `debug` and `trace` (details for a developer). The
//! level comes from `--log-level`, else from `RUST_LOG`, else `info`; it
//! is one level for everything (`debug`) or a list of `target=level`
//! directives (`warn,locker_gateway=debug`); targets a list does not name
//! log at its bare level, or at `info` without one.
//!
//! Nothing secret is logged at any level: pickup codes, deposit codes,
//! passwords and keys never reach a log line (the gateway's test
//! `the_gateways_log_never_holds_a_pickup_code` runs a deposit and a pickup
//! at `trace` and looks).
//!
//! ```no_run
//! use locker_examples::logging::{LogFormat, start_logging};
//!
//! start_logging(Some("debug"), LogFormat::Plain)?;
//! tracing::info!("compartment 3 is free again");
//! # Ok::<(), locker_examples::logging::LogSetupError>(())
//! ```

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event: time, level, message, fields.
    #[default]
    Plain,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`.
    Json,
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogSetupError {
    /// `--log-level` (or `RUST_LOG`) is not a level nor a directive list.
    #[error(
        "{source_name} {given:?} is not a log level: use error, warn, info, debug, trace or off, \
         or directives such as warn,locker_gateway=debug ({reason})"
    )]
    Level {
        /// Where the level came from: `--log-level` or `RUST_LOG`.
        source_name: &'static str,
        /// What was given.
        given: String,
        /// What the parser said.
        reason: String,
    },
    /// A logger was already installed in this process.
    #[error("logging was already started")]
    AlreadyStarted,
}

/// Installs the process's logger: `level` (from `--log-level`), else
/// `RUST_LOG`, else `info`; lines in `format` on standard error.
///
/// # Errors
/// [`LogSetupError::Level`] naming where a bad level came from;
/// [`LogSetupError::AlreadyStarted`] on a second call.
pub fn start_logging(level: Option<&str>, format: LogFormat) -> Result<(), LogSetupError> {
    let from_env = std::env::var("RUST_LOG").ok().filter(|l| !l.is_empty());
    let (source_name, given) = match (level, from_env) {
        (Some(level), _) => ("--log-level", level.to_string()),
        (None, Some(level)) => ("RUST_LOG", level),
        (None, None) => ("--log-level", "info".to_string()),
    };
    let refuse = |reason: String| LogSetupError::Level {
        source_name,
        given: given.clone(),
        reason,
    };
    // `Targets` takes a bare word as a target name at every level: a
    // misspelt level would log everything. Each part must name a level.
    for part in given.split(',') {
        let level = part.split_once('=').map_or(part, |(_, level)| level);
        LevelFilter::from_str(level.trim())
            .map_err(|_| refuse(format!("{level:?} is not a level")))?;
    }
    let mut targets = Targets::from_str(&given).map_err(|e| refuse(e.to_string()))?;
    // Directives for some targets alone (`locker_gateway=debug`) would
    // silence every other one, errors included: the rest stay at `info`.
    if given.split(',').all(|part| part.contains('=')) {
        targets = targets.with_default(LevelFilter::INFO);
    }
    let registry = tracing_subscriber::registry().with(targets);
    let installed = match format {
        LogFormat::Plain => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .with_target(false),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    installed.map_err(|_| LogSetupError::AlreadyStarted)
}
