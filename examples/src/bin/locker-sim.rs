//! `locker-sim`: a locker bank living through days of deliveries and
//! incidents, every layer real, in simulated time.
//!
//! ```text
//! cargo run --release --bin locker-sim -- --days 30 --seed 7
//! ```
//!
//! Same seed, same output, byte for byte (wall time goes to stderr). See
//! `--help`. The simulator itself, with its measured throughput, is
//! `locker_examples::sim`.
//!
//! `--board kerong-cu16` puts simulated Kerong KR-CU16 lock boards where
//! our nodes stand, behind the library's adapter, as `locker-gateway`
//! drives real ones (see `locker_examples::sim` for what differs).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant as WallClock};

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use locker_examples::sim::{Board, IncidentKind, Noise, SimConfig, run};

/// What stands on the bus as the nodes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum BoardArg {
    /// Our node firmware
    Ours,
    /// Simulated Kerong KR-CU16 boards behind the library's adapter; their
    /// IR beams have no load cell, so no drifting_sensor
    #[value(alias = "kerong_cu16")]
    KerongCu16,
}

/// The command line.
#[derive(Parser)]
#[command(
    name = "locker-sim",
    version,
    about = "A simulated locker bank, every layer real, in simulated time",
    after_help = "Same seed, same standard output, byte for byte: the wall time,\n\
                  the progress bar (on a terminal only) and errors go to standard error."
)]
struct Cli {
    /// Seed of every random choice
    #[arg(long, short = 's', value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Simulated days
    #[arg(long, short = 'd', value_name = "N", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(1..))]
    days: u32,
    /// Compartments in the site (banks of up to 64)
    #[arg(long, value_name = "N", default_value_t = SimConfig::default().compartments)]
    compartments: usize,
    /// Households served [default: 300 per 48 compartments]
    #[arg(long, value_name = "N")]
    units: Option<u32>,
    /// Bus noise: 0 clean, 1 a little (0.1 % bytes corrupted, 0.5 % frames
    /// lost), 2 bad (1 %, 5 %), 3 terrible
    #[arg(long, value_name = "L", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(0..=3))]
    noise: u8,
    /// What stands on the bus as the nodes
    #[arg(long, value_enum, value_name = "B", default_value = "ours")]
    board: BoardArg,
    /// Multiply every incident rate by X
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    incidents: f64,
    /// Set one incident rate; KIND is one of empty_door, door_ajar
    /// (fractions of deposits / pickups), forced_door, jammed_lock,
    /// drifting_sensor, node_hang, brute_force, fridge_failure, dead_sensor,
    /// stuck_sensor (per day per 48 compartments; fridge_failure fridges
    /// only; none of the last three on kerong-cu16), power_blip,
    /// long_outage (per day per bank)
    #[arg(long, value_name = "KIND=R", value_parser = incident_rate)]
    rate: Vec<(IncidentKind, f64)>,
    /// Check every invariant after every step (slower)
    #[arg(long)]
    check: bool,
    /// No timeline, only the summary
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Print the summary as JSON instead
    #[arg(long)]
    json: bool,
    /// Write occupancy over time as SVG to FILE
    #[arg(long, value_name = "FILE")]
    svg: Option<String>,
}

/// `--rate KIND=R`.
fn incident_rate(given: &str) -> Result<(IncidentKind, f64), String> {
    let (kind, rate) = given
        .split_once('=')
        .ok_or_else(|| format!("KIND=R wanted, e.g. forced_door=0.5, not {given:?}"))?;
    let kind = IncidentKind::from_name(kind).ok_or_else(|| {
        format!("unknown incident kind {kind:?} (the kinds are listed by --help)")
    })?;
    let rate = rate
        .parse()
        .map_err(|_| format!("the rate {rate:?} is not a number"))?;
    Ok((kind, rate))
}

impl Cli {
    fn config(&self) -> SimConfig {
        let mut config = SimConfig {
            seed: self.seed,
            days: self.days,
            compartments: self.compartments,
            units: self.units,
            noise_level: self.noise,
            noise: Noise::level(self.noise),
            check_invariants: self.check,
            board: match self.board {
                BoardArg::Ours => Board::Ours,
                BoardArg::KerongCu16 => Board::KerongCu16,
            },
            ..SimConfig::default()
        };
        config.rates = config.rates.scaled(self.incidents);
        for &(kind, rate) in &self.rate {
            config.rates.set(kind, rate);
        }
        config
    }
}

/// A progress bar in simulated hours, with the rate and the time left, on
/// standard error when it is a terminal (never into a file or a pipe),
/// shown only once a run has lasted a second.
fn progress_bar(days: u32) -> ProgressBar {
    let hours = u64::from(days) * 24;
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(hours), target);
    let template = "{bar:40} {pos}/{len} simulated hours, {rate} per second, {eta} left";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.0}", state.per_sec());
            },
        ));
    }
    bar
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config();
    let started = WallClock::now();
    let bar = progress_bar(config.days);
    let hours = u64::from(config.days) * 24;
    let mut progress = |done: f64| {
        if started.elapsed() > Duration::from_secs(1) {
            // Truncation is wanted: whole hours done.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            bar.set_position(((done.clamp(0.0, 1.0)) * hours as f64) as u64);
        }
    };
    let outcome = match run(&config, &mut progress) {
        Ok(o) => o,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("locker-sim: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    bar.finish_and_clear();
    let args = cli;
    let wall = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        serde_json::to_string_pretty(&outcome.summary)
            .map_err(std::io::Error::other)
            .and_then(|j| writeln!(out, "{j}"))
    } else {
        let timeline = if args.quiet {
            String::new()
        } else {
            outcome.timeline_text()
        };
        write!(out, "{timeline}{}", outcome.summary.render())
    };
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.svg {
        if let Err(e) = std::fs::write(path, outcome.svg()) {
            eprintln!("locker-sim: error: --svg: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Wall time varies run to run, so it goes to stderr: stdout stays byte-identical.
    eprintln!(
        "simulated {} parcels in {:.2} s of wall time: {:.0} parcels/s",
        outcome.parcels(),
        wall,
        outcome.parcels() as f64 / wall.max(1e-9)
    );
    if outcome.summary.parcels.lost > 0 || outcome.summary.invariants.violations > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
