//! `locker-gateway`: runs the locker bank against real compartment nodes on
//! a serial port (an RS-485 adapter), or against Kerong lock boards standing
//! in for them.
//!
//! ```text
//! locker-gateway --port /dev/ttyUSB0 --baud 115200 --state bank.state \
//!     --audit audit.jsonl --nodes 1,2,3 --channels 16
//! locker-gateway --board kerong-cu16 --port /dev/ttyUSB0 --state bank.state \
//!     --audit audit.jsonl --nodes 1,2 --channels 16
//! locker-gateway verify-audit audit.jsonl
//! ```
//!
//! Operator commands are read from standard input, one per line (see
//! `--help`); notices (pickup codes, alerts) are printed on standard output.
//!
//! With `--mqtt HOST:PORT` the gateway also talks to its backend through an
//! MQTT broker (topics `locker/<bank>/up`, `locker/<bank>/down`,
//! `locker/<bank>/status`; see `locker_examples::uplink`), over TLS with
//! `--mqtt-ca FILE` (the `--mqtt…` options are `locker-backend`'s too:
//! `locker_examples::uplink::MqttFlags`).

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use locker_domain::bank::{BankId, BankKeys};
use locker_drivers::kerong::BoardModel;
use locker_examples::gateway::{
    ConsoleCommand, Gateway, GatewayConfig, KERONG_BAUD, KerongLine, NodeLine, SerialLine,
    UplinkSettings, run_bus_key, verify_audit,
};
use locker_examples::secret::{read_or_create_secret, read_secret};
use locker_examples::uplink::{
    BrokerFailure, Encoding, MAX_RECONNECT_DELAY, MQTT_FLAGS_HELP, MqttFlags, MqttSettings,
    MqttTransport, Transport,
};
use locker_proto::NodeAddr;

/// `--help`: this, the `--mqtt…` options, then [`HELP_TAIL`].
const HELP_HEAD: &str = "\
locker-gateway: run a locker bank against its compartment nodes on a serial port

USAGE:
    locker-gateway --port PATH --state FILE --audit FILE --nodes LIST [OPTIONS]
    locker-gateway verify-audit FILE

VERIFY-AUDIT: reads an audit log and recomputes every record's hash-chain
link. Prints OK with the number of records, or the first line where the
chain breaks and why (a line deleted, altered, moved or forged). Exit code
0: intact; 3: intact, but records were re-issued with other content (a
rolled-back state file, reported when it happened); 1: the chain is broken;
2: the file cannot be read.

OPTIONS:
    --port PATH          serial port of the RS-485 adapter, e.g. /dev/ttyUSB0
    --board KIND         what is on the line: ours (default, our nodes),
                         kerong-cu16 or kerong-cu48 (Kerong lock boards,
                         driven as our nodes; see BOARDS below)
    --baud N             baud rate (default 115200 for our nodes, 19200 for
                         Kerong boards)
    --state FILE         the bank's state file: restored at start, replaced
                         atomically after every change; a corrupt one stops
                         the gateway and is left untouched
    --audit FILE         audit log, one JSON record per line, appended
    --nodes LIST         node bus addresses, e.g. 1,2,3
    --channels N         compartments per node (default 16; sizes cycle
                         5 small, 3 medium, 2 large)
    --bank-secret FILE   required: the secret the bank shares with its
                         backend, 64 hex digits in a file readable by its
                         owner alone (created with fresh randomness, mode
                         0600, when it does not exist: give the backend the
                         same file)
    --bank-number N      the bank's number, which its keys are bound to
                         (default 1; the backend's --bank-number)
    --bus-key FILE       the bus key: 64 hex digits; each node's key is derived
                         from it and the node's address, and unlocks are
                         signed (without it nodes refuse every unlock; with
                         Kerong boards a key for this run is drawn instead)
    --new-incarnation    confirm a start the gateway's files contradict: a
                         state file older than the audit log or the uplink
                         state (a backup restored on purpose), or none
                         though they show the bank ran before. The bank
                         begins a new incarnation: remote opens and offline
                         tokens issued before open nothing. Without it such
                         a start is refused and no file is changed
    --exit-after SECS    stop (persisting first) after SECS seconds
";

const HELP_TAIL: &str = "    \
    --bank-id ID         the bank's name for the backend and the topics
                         (default bank-1)
    --uplink-dir DIR     the uplink's queue and state (default uplink/)
    --uplink-encoding E  json (default) or postcard
    --help               this text

COMMANDS (one per line on standard input):
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
    status                       every compartment's books
    quit                         persist and stop

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
loses none. When the backend asks for a reset, the gateway lets door sessions
under way finish, persists everything and starts itself again.
";

struct Args {
    port: String,
    baud: u32,
    board: Option<BoardModel>,
    config: GatewayConfig,
    exit_after: Option<Duration>,
    uplink: Option<(UplinkSettings, MqttSettings)>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut port = None;
    let mut baud = None;
    let mut board = None;
    let mut state = None;
    let mut audit = None;
    let mut nodes = None;
    let mut channels = 16u8;
    let mut exit_after = None;
    let mut mqtt = MqttFlags::default();
    let mut bank_id = "bank-1".to_string();
    let mut uplink_dir = "uplink".to_string();
    let mut encoding = Encoding::Json;
    let mut bus_key = None;
    let mut bank_secret = None;
    let mut bank_number = 1u32;
    let mut new_incarnation = false;
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--new-incarnation" {
            new_incarnation = true;
            continue;
        }
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(value()?),
            "--baud" => baud = Some(value()?.parse().map_err(|_| "--baud needs a number")?),
            "--board" => {
                board = match value()?.as_str() {
                    "ours" => None,
                    "kerong-cu16" => Some(BoardModel::Cu16),
                    "kerong-cu48" => Some(BoardModel::Cu48),
                    _ => return Err("--board needs ours, kerong-cu16 or kerong-cu48".into()),
                };
            }
            "--state" => state = Some(value()?),
            "--audit" => audit = Some(value()?),
            "--nodes" => {
                let list: Result<Vec<NodeAddr>, _> = value()?
                    .split(',')
                    .map(|n| n.trim().parse().map(NodeAddr))
                    .collect();
                nodes = Some(list.map_err(|_| "--nodes needs addresses like 1,2,3")?);
            }
            "--channels" => {
                channels = value()?
                    .parse()
                    .map_err(|_| "--channels needs a number from 1 to 32")?;
            }
            "--bus-key" => {
                let secret = read_secret(value()?.as_ref())?;
                bus_key = Some(locker_proto::auth::BankKey::from_bytes(*secret));
            }
            "--bank-secret" => bank_secret = Some(value()?),
            "--bank-number" => {
                bank_number = value()?
                    .parse()
                    .map_err(|_| "--bank-number needs a number")?;
            }
            "--exit-after" => {
                let secs: f64 = value()?.parse().map_err(|_| "--exit-after needs seconds")?;
                exit_after = Some(Duration::from_secs_f64(secs.max(0.0)));
            }
            "--bank-id" => bank_id = value()?,
            "--uplink-dir" => uplink_dir = value()?,
            "--uplink-encoding" => {
                encoding =
                    Encoding::parse(&value()?).ok_or("--uplink-encoding needs json or postcard")?;
            }
            other => {
                if !mqtt
                    .take(other, || args.next())
                    .map_err(|e| e.to_string())?
                {
                    return Err(format!("unknown option {other} (see --help)"));
                }
            }
        }
    }
    let port = port.ok_or("--port is required (see --help)")?;
    let state = state.ok_or("--state is required (see --help)")?;
    let audit = audit.ok_or("--audit is required (see --help)")?;
    let nodes = nodes.ok_or("--nodes is required (see --help)")?;
    // Before the secret, which may be created: a refused start changes no file.
    let mqtt = mqtt
        .settings(format!("locker-gateway-{bank_id}"), bank_id.clone())
        .map_err(|e| e.to_string())?;
    let secret_path = bank_secret.ok_or(
        "--bank-secret FILE is required: the secret the bank shares with its backend \
         (64 hex digits, readable by its owner alone; a FILE that does not exist yet is \
         created with fresh randomness)",
    )?;
    let (secret, created) = read_or_create_secret(secret_path.as_ref())?;
    if created {
        eprintln!(
            "locker-gateway: a new bank secret is in {secret_path}; give the backend the same file"
        );
    }
    let bank_keys = BankKeys::derive(BankId(bank_number), &secret);
    let uplink = mqtt.map(|mqtt| {
        let mut settings = UplinkSettings::new(bank_id, uplink_dir);
        settings.encoding = encoding;
        (settings, mqtt)
    });
    let baud = baud.unwrap_or(if board.is_some() {
        KERONG_BAUD
    } else {
        115_200
    });
    Ok(Some(Args {
        port,
        baud,
        board,
        config: GatewayConfig {
            bus_key,
            new_incarnation,
            ..GatewayConfig::new(nodes, channels, state, audit, bank_keys)
        },
        exit_after,
        uplink,
    }))
}

/// `locker-gateway verify-audit FILE`: the verdict on standard output.
fn verify_audit_command(mut args: impl Iterator<Item = String>) -> ExitCode {
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("locker-gateway: verify-audit needs exactly one FILE (see --help)");
        return ExitCode::from(2);
    };
    match verify_audit(path.as_ref()) {
        Ok(verdict) => {
            println!("{path}: {verdict}");
            if !verdict.is_intact() {
                ExitCode::FAILURE
            } else if !verdict.reissued.is_empty() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("locker-gateway: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "verify-audit") {
        return verify_audit_command(args.skip(1));
    }
    let args = match parse_args(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP_HEAD}{MQTT_FLAGS_HELP}{HELP_TAIL}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("locker-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locker-gateway: {e}");
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
            eprintln!("locker-gateway: warning: {warning}");
        }
        let mut transport = MqttTransport::gateway(&mqtt);
        broker_failures = transport.take_failures().map(|f| (f, mqtt));
        let transport: Box<dyn Transport> = Box::new(transport);
        (settings, transport)
    });
    let mut gateway = Gateway::start_on(config, connect, uplink)?;
    println!(
        "locker-gateway on {port}: {} compartments, {}",
        gateway.bank().layout().len(),
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
                println!("standard input closed: running on without operator commands");
                continue;
            };
            match ConsoleCommand::parse(&line) {
                Ok(Some(command)) => println!("{}", gateway.execute(&command)?),
                Ok(None) => {}
                Err(e) => println!("{e}"),
            }
        }
        while let Some(notice) = gateway.poll_notice() {
            println!("{notice}");
        }
        if let Some((failures, mqtt)) = &broker_failures {
            while let Ok(failure) = failures.try_recv() {
                eprintln!("locker-gateway: {}", broker_trouble(mqtt, &failure));
            }
        }
        if let Some(kind) = gateway.reboot_requested() {
            gateway.shutdown()?;
            println!("rebooting ({kind:?}) as the backend asked");
            return Err(restart().into());
        }
        if gateway.is_stopping() || args.exit_after.is_some_and(|d| started.elapsed() >= d) {
            return Ok(gateway.shutdown()?);
        }
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
