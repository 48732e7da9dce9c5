//! `locker-backend`: a tiny backend for one bank, over MQTT.
//!
//! ```text
//! locker-backend --mqtt localhost:1883 --bank-id bank-1 --bank-secret bank.secret
//! locker-backend --mqtt broker.example:8883 --mqtt-ca ca.pem --bank-id bank-1 \
//!     --bank-secret bank.secret --mqtt-user backend --mqtt-password-file mqtt.password
//! ```
//!
//! Prints every message the gateway sends (as JSON lines, on standard
//! output), acknowledges each, and answers alerts: a camera snapshot for a
//! forced door, the compartment out of service for a lock fault. Requests
//! are typed on standard input (see `--help`). The `--mqtt…` options, TLS
//! included, are `locker-gateway`'s (`locker_examples::uplink::MqttFlags`).
//!
//! Standard output is what the backend hands on: the messages, and the
//! codes it draws. A pickup code drawn for `announce` and a courier's
//! deposit code are printed there, where a real backend would send them
//! to the recipient and the courier; they are never logged. The log
//! (connection, broker trouble, undecodable messages, errors) is on
//! standard error (`locker_examples::logging`).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use locker_domain::bank::codes::{CodeHash, PickupCode};
use locker_domain::bank::{BankId, BankKeys};
use locker_examples::gateway::MonotonicClock;
use locker_examples::logging::{LogFormat, start_logging};
use locker_examples::secret::read_secret;
use locker_examples::uplink::{
    Backend, BackendConfig, Encoding, MAX_RECONNECT_DELAY, MqttFlags, MqttSettings, MqttTransport,
    Transport, TransportEvent,
};
use locker_proto::uplink::{
    AnnounceParcel, Credential, Deadlines, Downward, HexArray, ParcelKind, ParcelNeeds,
    ResetTarget, Response, Scope, UpEnvelope, Upward,
};
use locker_proto::{CompartmentId, NodeAddr, RebootKind, SizeClass};
use tracing::{error, info, warn};

/// Shown after the options by `--help`.
const AFTER_HELP: &str = "\
The bank's keys are derived from the secret the gateway shares with it
(FILE: 64 hex digits, the file locker-gateway wrote at its first start)
and --bank-number (default 1, as the gateway's). Every message the backend
sends, acknowledgements included, is tagged with them; the gateway carries
out nothing that is not.

OUTPUT: the gateway's messages (JSON lines) and the codes the backend draws
go to standard output, as a real backend would hand them to the recipient
and the courier; the log (connection, broker trouble, errors) goes to
standard error and never holds a code.

COMMANDS (one per line on standard input):
    announce small|medium|large REF   announce a parcel (tracking number REF):
                                      draws its pickup code and sends only
                                      the code's hash
    reserve small|medium|large        reserve a compartment
    cancel N                          cancel the reservation of compartment N
    open N                            open compartment N remotely (signed)
    offline N | online N              take compartment N out of service or back
    reset gateway | reset node N      restart the gateway or one node
    recalibrate N                     re-tare compartment N's empty presence
                                      sensor (free, shut and reading empty)
    config                            show the bank's rules
    diagnostics                       versions, bus statistics, out of service
    quit                              stop";

/// The command line.
#[derive(Parser)]
#[command(
    name = "locker-backend",
    version,
    about = "A tiny backend for one locker bank, over MQTT",
    after_help = AFTER_HELP
)]
struct Cli {
    /// The secret shared with the gateway: 64 hex digits in a file
    /// readable by its owner alone
    #[arg(
        long,
        value_name = "FILE",
        env = "LOCKER_BANK_SECRET",
        hide_env_values = true
    )]
    bank_secret: PathBuf,
    /// The bank's name in the topics
    #[arg(long, value_name = "ID", default_value = "bank-1")]
    bank_id: String,
    /// The bank's number, as the gateway's
    #[arg(long, value_name = "N", default_value_t = 1)]
    bank_number: u32,
    /// Payload encoding, as the gateway's
    #[arg(long, value_enum, value_name = "E", default_value = "json")]
    encoding: Encoding,
    #[command(flatten)]
    mqtt: MqttFlags,
    /// Log level: error, warn, info, debug, trace or off, or directives
    /// such as warn,locker_backend=debug [default: RUST_LOG, else info]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log lines as plain text (for journald) or JSON
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "plain")]
    log_format: LogFormat,
}

fn size(word: Option<&str>) -> Option<SizeClass> {
    match word? {
        "small" => Some(SizeClass::Small),
        "medium" => Some(SizeClass::Medium),
        "large" => Some(SizeClass::Large),
        _ => None,
    }
}

fn needs(size: SizeClass) -> ParcelNeeds {
    ParcelNeeds {
        size: Some(size),
        ..ParcelNeeds::default()
    }
}

/// Six digits from the operating system's randomness.
fn draw_code() -> Result<PickupCode, String> {
    use std::io::Read;
    let mut bytes = [0u8; 64];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    let mut random = bytes.iter().copied();
    let mut digits = Vec::new();
    while digits.len() < 6 {
        // 250 is a multiple of 10: no digit is likelier than another.
        match random.next() {
            Some(b) if b < 250 => digits.push(b % 10),
            Some(_) => {}
            None => return Err("not enough randomness".into()),
        }
    }
    PickupCode::from_digits(&digits).map_err(|e| e.to_string())
}

fn command(line: &str, keys: &BankKeys, backend: &Backend) -> Result<Option<Downward>, String> {
    let mut words = line.split_whitespace();
    let Some(verb) = words.next() else {
        return Ok(None);
    };
    let arg = words.next();
    let number = |a: Option<&str>| a.and_then(|a| a.parse::<u16>().ok());
    Ok(Some(match verb {
        "announce" => {
            let size = size(arg).ok_or("announce small|medium|large REF")?;
            let parcel_ref = words.next().unwrap_or("parcel");
            let code = draw_code()?;
            let digits: String = code.digits().iter().map(|d| char::from(b'0' + d)).collect();
            println!("pickup code for {parcel_ref}: {digits} (send it when the parcel is ready)");
            Downward::AnnounceParcel(AnnounceParcel {
                parcel_ref: parcel_ref
                    .try_into()
                    .map_err(|_| "REF is at most 32 bytes")?,
                recipient: "recipient".try_into().map_err(|_| "recipient")?,
                kind: ParcelKind::Delivery,
                needs: needs(size),
                deadlines: Deadlines::default(),
                credential: Credential::CodeHash(HexArray(CodeHash::of(keys, &code).to_bytes())),
            })
        }
        "reserve" => Downward::ReserveCompartment(locker_proto::uplink::ReserveCompartment {
            kind: ParcelKind::Delivery,
            needs: needs(size(arg).ok_or("reserve small|medium|large")?),
        }),
        "cancel" => Downward::CancelReservation {
            compartment: CompartmentId(number(arg).ok_or("cancel N")?),
        },
        "open" => {
            let compartment = CompartmentId(number(arg).ok_or("open N")?);
            // Request ids must grow: the clock in microseconds does.
            let request_id = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
            backend
                .signed_remote_open(compartment, request_id)
                .ok_or("the gateway's boot notification has not come yet, so its incarnation is unknown: wait for it and try again")?
        }
        "offline" | "online" => Downward::ChangeAvailability {
            scope: Scope::Compartment(CompartmentId(number(arg).ok_or("offline|online N")?)),
            available: verb == "online",
        },
        "reset" => Downward::Reset {
            kind: RebootKind::Soft,
            target: match arg {
                Some("gateway") => ResetTarget::Gateway,
                Some("node") => {
                    let n = number(words.next()).ok_or("reset node N")?;
                    ResetTarget::Node(NodeAddr(u8::try_from(n).map_err(|_| "node 1..247")?))
                }
                _ => return Err("reset gateway | reset node N".into()),
            },
        },
        "recalibrate" => Downward::RecalibrateSensor {
            compartment: CompartmentId(number(arg).ok_or("recalibrate N")?),
        },
        "config" => Downward::GetConfiguration,
        "diagnostics" => Downward::GetDiagnostics,
        "quit" | "exit" => return Err("quit".into()),
        other => return Err(format!("unknown command {other:?} (see --help)")),
    }))
}

/// Says why the backend does not start, and the exit code for it.
fn refuse(why: impl std::fmt::Display) -> ExitCode {
    error!("{why}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = start_logging(cli.log_level.as_deref(), cli.log_format) {
        eprintln!("locker-backend: error: {e}");
        return ExitCode::from(2);
    }
    let settings = match cli
        .mqtt
        .settings(format!("locker-backend-{}", cli.bank_id), cli.bank_id)
    {
        Ok(Some(settings)) => settings,
        Ok(None) => return refuse("--mqtt ADDRESS is required (see --help)"),
        Err(e) => return refuse(e),
    };
    if let Some(warning) = settings.cleartext_warning() {
        warn!("{warning}");
    }
    let secret = match read_secret(&cli.bank_secret) {
        Ok(secret) => secret,
        Err(e) => return refuse(format_args!("--bank-secret: {e}")),
    };
    let keys = BankKeys::derive(BankId(cli.bank_number), &secret);
    run(&settings, cli.encoding, &keys);
    ExitCode::SUCCESS
}

fn run(settings: &MqttSettings, encoding: Encoding, keys: &BankKeys) {
    let mut transport = MqttTransport::backend(settings);
    let failures = transport.take_failures();
    let broker = format!(
        "MQTT broker {}:{}{}",
        settings.host,
        settings.port,
        if settings.tls.is_some() { " (TLS)" } else { "" }
    );
    // Ids grow across restarts: the epoch is the start time in seconds.
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    // Every message it sends is tagged with the bank's keys: the gateway
    // carries out nothing else.
    let mut backend = Backend::new(BackendConfig::default(), epoch, keys.clone());
    let clock = MonotonicClock::start();
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut up = false;
    loop {
        while let Ok(line) = lines.try_recv() {
            match command(&line, keys, &backend) {
                Ok(Some(request)) => {
                    let id = backend.request(request);
                    println!("sent request {}", id.0);
                }
                Ok(None) => {}
                Err(e) if e == "quit" => return,
                // The person at the console mistyped: told there, not logged.
                Err(e) => eprintln!("{e}"),
            }
        }
        for failure in failures.iter().flat_map(|f| f.try_iter()) {
            warn!(
                "{broker}: {failure}; trying again (at most {} s apart)",
                MAX_RECONNECT_DELAY.as_secs()
            );
        }
        while let Some(event) = transport.poll() {
            match event {
                TransportEvent::Up => {
                    info!("connected to the {broker}");
                    up = true;
                }
                TransportEvent::Down => {
                    if up {
                        warn!(
                            "lost the connection to the {broker}; requests wait until it is back"
                        );
                    }
                    up = false;
                    backend.link_down();
                }
                TransportEvent::Message(payload) => match encoding.decode::<_>(&payload) {
                    Ok(message) => {
                        let message: UpEnvelope = message;
                        if let Some(new) = backend.handle_upward(message) {
                            println!("{}", serde_json::to_string(new).unwrap_or_default());
                            let reserved = match &new.body {
                                Upward::CallResult(r) => match r.response {
                                    Response::Reserved {
                                        compartment,
                                        parcel,
                                        ..
                                    }
                                    | Response::ParcelAnnounced {
                                        compartment,
                                        parcel,
                                        ..
                                    } => Some((compartment, parcel)),
                                    _ => None,
                                },
                                _ => None,
                            };
                            if let Some((compartment, parcel)) = reserved
                                && let Some(code) = backend.deposit_code(compartment, parcel)
                            {
                                println!(
                                    "deposit code for compartment {}: {code} (give it to the courier)",
                                    compartment.0
                                );
                            }
                        }
                    }
                    Err(e) => {
                        warn!("a message from the gateway cannot be read: {e}");
                        if let Some(header) = encoding.header(&payload) {
                            backend.handle_undecodable(header);
                        }
                    }
                },
            }
        }
        let now = clock.now();
        while up {
            let Some(message) = backend.poll_transmit(now) else {
                break;
            };
            if transport.send(&encoding.encode(&message)).is_err() {
                up = false;
                backend.link_down();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
