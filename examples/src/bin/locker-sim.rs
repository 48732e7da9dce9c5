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
use std::time::Instant as WallClock;

use locker_examples::sim::{Board, IncidentKind, Noise, SimConfig, run};

const HELP: &str = "\
locker-sim: a simulated locker bank, every layer real, in simulated time

USAGE: locker-sim [OPTIONS]

  --seed N            seed of every random choice (default 1)
  --days N            simulated days (default 7)
  --compartments N    compartments in the site (default 48; banks of up to 64)
  --units N           households served (default 300 per 48 compartments)
  --noise L           bus noise: 0 clean, 1 a little (0.1 % bytes corrupted,
                      0.5 % frames lost; default), 2 bad (1 %, 5 %), 3 terrible
  --board B           what stands on the bus as the nodes: ours (our node
                      firmware; default) or kerong-cu16 (simulated Kerong
                      KR-CU16 boards behind the library's adapter; their IR
                      beams have no load cell, so no drifting_sensor)
  --incidents X       multiply every incident rate by X (default 1)
  --rate KIND=R       set one incident rate; KIND is one of
                      empty_door, door_ajar (fractions of deposits / pickups),
                      forced_door, jammed_lock, drifting_sensor, node_hang,
                      brute_force, fridge_failure (per day per 48
                      compartments; fridges only, none on kerong-cu16),
                      power_blip, long_outage (per day per bank)
  --check             check every invariant after every step (slower)
  --quiet             no timeline, only the summary
  --json              print the summary as JSON instead
  --svg FILE          write occupancy over time as SVG to FILE
  --help              this text
";

struct Args {
    config: SimConfig,
    quiet: bool,
    json: bool,
    svg: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut config = SimConfig::default();
    let mut factor = 1.0;
    let mut rates = Vec::new();
    let (mut quiet, mut json, mut svg) = (false, false, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--seed" => config.seed = number(&value("--seed")?)?,
            "--days" => config.days = number(&value("--days")?)?,
            "--compartments" => config.compartments = number(&value("--compartments")?)?,
            "--units" => config.units = Some(number(&value("--units")?)?),
            "--noise" => {
                let level: u8 = number(&value("--noise")?)?;
                config.noise_level = level.min(3);
                config.noise = Noise::level(level);
            }
            "--incidents" => factor = number(&value("--incidents")?)?,
            "--rate" => {
                let v = value("--rate")?;
                let (kind, rate) = v
                    .split_once('=')
                    .ok_or(format!("--rate wants KIND=R, got {v}"))?;
                let kind =
                    IncidentKind::from_name(kind).ok_or(format!("unknown incident kind {kind}"))?;
                rates.push((kind, number::<f64>(rate)?));
            }
            "--board" => {
                config.board = match value("--board")?.as_str() {
                    "ours" => Board::Ours,
                    "kerong-cu16" | "kerong_cu16" => Board::KerongCu16,
                    other => {
                        return Err(format!("--board wants ours or kerong-cu16, got {other}"));
                    }
                }
            }
            "--check" => config.check_invariants = true,
            "--quiet" | "-q" => quiet = true,
            "--json" => json = true,
            "--svg" => svg = Some(value("--svg")?),
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    config.rates = config.rates.scaled(factor);
    for (kind, rate) in rates {
        config.rates.set(kind, rate);
    }
    if config.days == 0 {
        return Err("--days must be at least 1".into());
    }
    Ok(Some(Args {
        config,
        quiet,
        json,
        svg,
    }))
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("locker-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let started = WallClock::now();
    let terminal = std::io::stderr().is_terminal();
    let mut shown = false;
    let mut progress = |done: f64| {
        // Only for runs longer than a second, and never into a file.
        if terminal && started.elapsed().as_secs_f64() > 1.0 {
            let width = 40;
            let filled = (done * width as f64) as usize;
            eprint!(
                "\r[{}{}] {:>3.0} %",
                "#".repeat(filled),
                " ".repeat(width - filled.min(width)),
                done * 100.0
            );
            shown = true;
        }
    };
    let outcome = match run(&args.config, &mut progress) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("locker-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wall = started.elapsed().as_secs_f64();
    if shown {
        eprint!("\r{}\r", " ".repeat(50));
    }
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
            eprintln!("locker-sim: cannot write {path}: {e}");
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
