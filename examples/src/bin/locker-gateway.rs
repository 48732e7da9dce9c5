//! `locker-gateway`: runs the locker bank against real compartment nodes on
//! a serial port (an RS-485 adapter), or against Kerong lock boards standing
//! in for them.
//!
//! ```text
//! locker-gateway --port /dev/ttyUSB0 --baud 115200 --state bank.state \
//!     --audit audit.jsonl --nodes 1,2,3 --channels 16 --bank-secret bank.secret
//! locker-gateway --config /etc/locker/gateway.toml
//! locker-gateway --board kerong-cu16 --port /dev/ttyUSB0 --state bank.state \
//!     --audit audit.jsonl --nodes 1,2 --channels 16 --bank-secret bank.secret
//! locker-gateway verify-audit audit.jsonl
//! ```
//!
//! Every option is a flag and a key of the TOML config file
//! (`locker_examples::gateway::GatewayOptions`); flags win over the file.
//! Operator commands are read from standard input, one per line (see
//! `--help`), and answered on standard output. Everything else (the
//! bank's notifications and alerts, nodes coming and going, the broker's
//! troubles, errors) is logged on standard error with a time stamp and a
//! level (`locker_examples::logging`), and no log line ever holds a pickup
//! code.
//!
//! With `--mqtt HOST:PORT` the gateway also talks to its backend through an
//! MQTT broker (topics `locker/<bank>/up`, `locker/<bank>/down`,
//! `locker/<bank>/status`; see `locker_examples::uplink`), over TLS with
//! `--mqtt-ca FILE`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use locker_domain::bank::health::HealthPolicy;
use locker_domain::bank::{BankId, BankKeys, Policy};
use locker_drivers::kerong::BoardModel;
use locker_examples::gateway::{
    ConsoleCommand, Gateway, GatewayConfig, GatewayOptions, KERONG_BAUD, KerongLine, NodeLine,
    Notice, SerialLine, UplinkSettings, please_close, run_bus_key, verify_audit,
};
use locker_examples::logging::start_logging;
use locker_examples::secret::{read_or_create_secret, read_secret};
use locker_examples::uplink::{
    BrokerFailure, MAX_RECONNECT_DELAY, MqttSettings, MqttTransport, Transport,
};
use locker_proto::NodeConfig;
use tracing::{debug, error, info, warn};

/// Shown after the options by `--help`.
const AFTER_HELP: &str = "\
CONFIG FILE: every option is also a key of the TOML file given with
--config: the flag without its leading --, e.g.

    port = \"/dev/ttyUSB0\"
    nodes = [1, 2, 3]
    state = \"/var/lib/locker/bank.state\"
    audit = \"/var/lib/locker/audit.jsonl\"
    bank-secret = \"/etc/locker/bank.secret\"

A flag (or its environment variable) wins over the file. The file names
the secrets' files and never holds a secret itself; --new-incarnation is a
flag only. An unknown key, a value of the wrong type or a missing required
value stops the start, naming the file, the line and the key.

COMMANDS (one per line on standard input, answered on standard output):
    deposit small|medium|large   reserve and unlock a compartment for a courier
    return small|medium|large    the same for a resident's return
    deposit and return           are a staff terminal's: audited as account 0
    courier N CODE               the courier is at compartment N, reserved by
                                 the backend, and types its 8-digit deposit
                                 code (the backend computes it from the bank's
                                 keys and sends it with the parcel): unlock it
    pickup CODE                  a code typed at the keypad
    staff-open N ID              the member of staff ID opens compartment N
                                 (audited with ID)
    certify-removal N ID         the member of staff ID saw compartment N empty
                                 after a removal its presence sensor disputed:
                                 the parcel leaves the books, the compartment
                                 is back in service and its sensor recalibrated
                                 (audited with ID)
    serviced N ID                the member of staff ID repaired or replaced
                                 compartment N's lock or sensor: its fault
                                 history starts again (audited with ID)
    status                       every compartment's books
    quit                         persist and stop

LOG: notifications, alerts, warnings and errors go to standard error, one
line each with time and level (--log-format json for JSON lines). No log
line holds a pickup code; the only place a code is shown is the answer to
a staff terminal's deposit on standard output.

The state is persisted after every change, so stopping the program any other
way (Ctrl-C, a power cut) loses nothing either. When standard input ends (e.g.
under a service manager) the gateway keeps running without commands.

BOARDS: with --board kerong-cu16, node N is the KR-CU16 whose DIP switches
are set to address N-1 (nodes 1 to 16, --channels up to 16). With --board
kerong-cu48 each KR-CU48 is two nodes of 24 channels: nodes 1 and 2 are
board 0's channels 1-24 and 25-48, nodes 3 and 4 board 1's, and so on
(--channels up to 24). The boards share the port at 19200 baud, 8N1.

UPLINK: messages for the backend wait in the uplink directory, one file each,
until the backend acknowledges them, so a broker outage or a gateway restart
loses none. A broker that cannot be reached is logged once per reason and
tried again with back-off; losing it is a warning, reaching it again an info
line with the number of messages that go out. When the backend asks for a reset, the gateway
lets door sessions under way finish, persists everything and starts itself
again.";

/// The command line.
#[derive(Parser)]
#[command(
    name = "locker-gateway",
    version,
    about = "Run a locker bank against its compartment nodes on a serial port",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Read the options from this TOML file; flags override it
    #[arg(long, short = 'c', value_name = "FILE", env = "LOCKER_GATEWAY_CONFIG")]
    config: Option<PathBuf>,
    /// Confirm a start the gateway's files contradict: a state file older
    /// than the audit log or the uplink state (a backup restored on
    /// purpose), or none though they show the bank ran before. The bank
    /// begins a new incarnation: remote opens and offline tokens issued
    /// before open nothing. Without it such a start is refused and no file
    /// is changed
    #[arg(long)]
    new_incarnation: bool,
    #[command(flatten)]
    options: GatewayOptions,
}

#[derive(Subcommand)]
enum Command {
    /// Read an audit log and recompute every record's hash-chain link.
    ///
    /// Prints OK with the number of records, or the first line where the
    /// chain breaks and why (a line deleted, altered, moved or forged).
    /// Exit code 0: intact; 3: intact, but records were re-issued with
    /// other content (a rolled-back state file, reported when it
    /// happened); 1: the chain is broken; 2: the file cannot be read.
    VerifyAudit {
        /// The audit log.
        file: PathBuf,
    },
}

struct Args {
    port: String,
    baud: u32,
    board: Option<BoardModel>,
    config: GatewayConfig,
    exit_after: Option<Duration>,
    uplink: Option<(UplinkSettings, MqttSettings)>,
}

/// `what` is missing from the flags and the config file.
fn required(what: &str, key: &str, config: Option<&Path>) -> String {
    match config {
        Some(path) => format!(
            "{what} is required: give it as a flag or as `{key}` in the config file {}",
            path.display()
        ),
        None => format!("{what} is required (see --help)"),
    }
}

/// The gateway's settings from its options (flags over the config file),
/// every file they name read; `config` names the file for the errors.
fn settle(
    options: GatewayOptions,
    new_incarnation: bool,
    config: Option<&Path>,
) -> Result<Args, String> {
    let port = options
        .port
        .clone()
        .ok_or_else(|| required("--port PATH", "port", config))?;
    let state = options
        .state
        .clone()
        .ok_or_else(|| required("--state FILE", "state", config))?;
    let audit = options
        .audit
        .clone()
        .ok_or_else(|| required("--audit FILE", "audit", config))?;
    let nodes = options
        .nodes
        .clone()
        .ok_or_else(|| required("--nodes LIST", "nodes", config))?
        .0;
    let board = options.board.unwrap_or_default().kerong();
    let time_zone = match &options.time_zone {
        Some(rule) => rule
            .parse()
            .map_err(|e| format!("--time-zone {rule:?}: {e}"))?,
        None => locker_proto::zone::TimeZone::UTC,
    };
    // The nodes' configuration and the drift band in their units, refused
    // here naming the flags rather than by every node.
    let mut sensing = Policy::default();
    if let Some(threshold) = options.presence_threshold {
        sensing.node_config = Some(NodeConfig {
            presence_threshold: threshold,
            ..NodeConfig::default()
        });
        sensing.health.drift_band = HealthPolicy::drift_band_for(threshold);
    }
    if let Some(band) = options.drift_band {
        if band < 1 {
            return Err(format!("--drift-band {band}: must be at least 1"));
        }
        sensing.health.drift_band = band;
    }
    sensing
        .check_node_config()
        .map_err(|e| format!("--presence-threshold / --drift-band: {e}"))?;
    let bank_id = options.bank_id.clone().unwrap_or_else(|| "bank-1".into());
    let bus_key = match &options.bus_key {
        Some(path) => {
            let secret = read_secret(path).map_err(|e| format!("--bus-key: {e}"))?;
            Some(locker_proto::auth::BankKey::from_bytes(*secret))
        }
        None => None,
    };
    // Before the secret, which may be created: a refused start changes no file.
    let mqtt = options
        .mqtt_flags()
        .settings(format!("locker-gateway-{bank_id}"), bank_id.clone())
        .map_err(|e| e.to_string())?;
    let secret_path = options.bank_secret.clone().ok_or_else(|| {
        required(
            "--bank-secret FILE (the secret the bank shares with its backend: 64 hex \
             digits, readable by its owner alone; a FILE that does not exist yet is \
             created with fresh randomness; or LOCKER_BANK_SECRET, or the systemd \
             credential bank-secret)",
            "bank-secret",
            config,
        )
    })?;
    let (secret, created) =
        read_or_create_secret(&secret_path).map_err(|e| format!("--bank-secret: {e}"))?;
    if created {
        info!(
            "a new bank secret is in {}; give the backend the same file",
            secret_path.display()
        );
    }
    let bank_keys = BankKeys::derive(BankId(options.bank_number.unwrap_or(1)), &secret);
    let uplink = mqtt.map(|mqtt| {
        let dir = options
            .uplink_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("uplink"));
        let mut settings = UplinkSettings::new(bank_id, dir);
        settings.encoding = options.uplink_encoding.unwrap_or_default();
        (settings, mqtt)
    });
    let baud = options.baud.unwrap_or(if board.is_some() {
        KERONG_BAUD
    } else {
        115_200
    });
    let mut config = GatewayConfig {
        bus_key,
        new_incarnation,
        node_power_command: options.node_power_command.clone(),
        ..GatewayConfig::new(
            nodes,
            options.channels.unwrap_or(16),
            state,
            audit,
            bank_keys,
        )
    };
    config.policy.locks_report_jams = options.locks_report_jams.unwrap_or(false);
    config.policy.time_zone = time_zone;
    config.policy.node_config = sensing.node_config;
    config.policy.health.drift_band = sensing.health.drift_band;
    Ok(Args {
        port,
        baud,
        board,
        config,
        exit_after: options
            .exit_after
            .map(|secs| Duration::from_secs_f64(secs.clamp(0.0, 1e9))),
        uplink,
    })
}

/// `locker-gateway verify-audit FILE`: the verdict on standard output.
fn verify_audit_command(path: &Path) -> ExitCode {
    match verify_audit(path) {
        Ok(verdict) => {
            println!("{}: {verdict}", path.display());
            if !verdict.is_intact() {
                ExitCode::FAILURE
            } else if !verdict.reissued.is_empty() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("locker-gateway: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::VerifyAudit { file }) = &cli.command {
        return verify_audit_command(file);
    }
    let options = match &cli.config {
        Some(path) => match GatewayOptions::from_file(path) {
            Ok(file) => cli.options.over(file),
            Err(e) => {
                eprintln!("locker-gateway: error: {e}");
                return ExitCode::from(2);
            }
        },
        None => cli.options,
    };
    // Under systemd, secrets the unit loaded as credentials.
    let options = match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => options.with_credentials(Path::new(&dir)),
        None => options,
    };
    let format = options.log_format.unwrap_or_default();
    if let Err(e) = start_logging(options.log_level.as_deref(), format) {
        eprintln!("locker-gateway: error: {e}");
        return ExitCode::from(2);
    }
    let args = match settle(options, cli.new_incarnation, cli.config.as_deref()) {
        Ok(args) => args,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (port, baud, board) = (args.port, args.baud, args.board);
    let mut config = args.config;
    if board.is_some() && config.bus_key.is_none() {
        config.bus_key = Some(run_bus_key()?);
    }
    let line_config = config.clone();
    let connect = || -> Result<Box<dyn NodeLine>, _> {
        Ok(match board {
            Some(model) => Box::new(KerongLine::open(&port, baud, model, &line_config)?),
            None => Box::new(SerialLine::open(&port, baud, Duration::from_millis(5))?),
        })
    };
    let mut broker_failures = None;
    let uplink = args.uplink.map(|(settings, mqtt)| {
        if let Some(warning) = mqtt.cleartext_warning() {
            warn!("{warning}");
        }
        let mut transport = MqttTransport::gateway(&mqtt);
        broker_failures = transport.take_failures().map(|f| (f, mqtt));
        let transport: Box<dyn Transport> = Box::new(transport);
        (settings, transport)
    });
    let mut gateway = Gateway::start_on(config, connect, uplink)?;
    info!(
        "locker-gateway {} on {port}: {} compartments, local time {}, {}",
        env!("CARGO_PKG_VERSION"),
        gateway.bank().layout().len(),
        gateway.bank().policy().time_zone,
        if gateway.was_restored() {
            "restored from the state file"
        } else {
            "empty bank (no state file)"
        }
    );
    // Standard input is read on its own thread so the bus never waits for a person.
    let (lines_tx, lines) = mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(Some(line)).is_err() {
                return;
            }
        }
        let _ = lines_tx.send(None);
    });
    let started = std::time::Instant::now();
    loop {
        gateway.step()?;
        while let Ok(line) = lines.try_recv() {
            let Some(line) = line else {
                info!("standard input closed: running on without operator commands");
                continue;
            };
            match ConsoleCommand::parse(&line) {
                Ok(Some(command)) => {
                    // Debug-printed, a code is a row of stars.
                    debug!(?command, "operator command");
                    let reply = gateway.execute(&command)?;
                    debug!(?reply, "answered on the console");
                    println!("{reply}");
                    if reply.lets_someone_in() {
                        for door in gateway.bank().doors_left_open() {
                            println!("{}", please_close(door));
                        }
                    }
                }
                Ok(None) => {}
                // To the person at the console, not to the log: a line
                // typed by mistake could be a pickup code.
                Err(e) => eprintln!("{e}"),
            }
        }
        while let Some(notice) = gateway.poll_notice() {
            log_notice(&notice);
        }
        if let Some((failures, mqtt)) = &broker_failures {
            while let Ok(failure) = failures.try_recv() {
                warn!("{}", broker_trouble(mqtt, &failure));
            }
        }
        if let Some(kind) = gateway.reboot_requested() {
            gateway.shutdown()?;
            warn!("restarting ({kind:?}) as the backend asked");
            return Err(restart().into());
        }
        if gateway.is_stopping() || args.exit_after.is_some_and(|d| started.elapsed() >= d) {
            return Ok(gateway.shutdown()?);
        }
    }
}

/// A notice at the level it deserves: alerts need a person (error),
/// warnings someone's attention (warn), the rest is what happens (info).
fn log_notice(notice: &Notice) {
    match notice {
        Notice::Alert(_) => error!("{notice}"),
        Notice::Warning(_)
        | Notice::SnapshotRequested(_)
        | Notice::Backend {
            connected: false, ..
        } => warn!("{notice}"),
        _ => info!("{notice}"),
    }
}

/// A broker connection failure as the operator reads it: where, why, and
/// that the gateway keeps trying (messages wait on disk meanwhile).
fn broker_trouble(mqtt: &MqttSettings, failure: &BrokerFailure) -> String {
    format!(
        "MQTT broker {}:{}{}: {failure}; messages wait in the uplink queue, trying again \
         (at most {} s apart)",
        mqtt.host,
        mqtt.port,
        if mqtt.tls.is_some() { " (TLS)" } else { "" },
        MAX_RECONNECT_DELAY.as_secs()
    )
}

/// Starts this program again in place, with the same arguments (a soft
/// reboot; a gateway appliance would ask its init system for a hard one).
/// Returns only if that failed.
fn restart() -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let Some(program) = args.next() else {
        return std::io::Error::other("no program name to restart");
    };
    let program = std::env::current_exe().unwrap_or_else(|_| program.into());
    std::process::Command::new(program).args(args).exec()
}
