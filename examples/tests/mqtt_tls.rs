//! The uplink over TLS: certificate authorities made by the test, a
//! Mosquitto with a TLS listener on a free loopback port, the gateway and
//! the backend (the library and the shipped programs) talking through it,
//! and the strangers it turns away: a client that trusts another CA, one
//! without a client certificate or with a wrong password, one speaking
//! plain TCP to the TLS port. Before any broker: every bad TLS file is
//! refused at start, naming it.
//!
//! The broker tests need `mosquitto` and `mosquitto_passwd` (Debian package
//! `mosquitto`); `.ci/run` installs it and runs them with
//! `cargo test -p locker-examples --test mqtt_tls -- --ignored`. Run with
//! `--ignored` and no mosquitto, they fail: they never skip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use locker_examples::gateway::Gateway;
use locker_examples::uplink::{
    BrokerFailure, Encoding, MqttFlagError, MqttFlags, MqttSettings, MqttTransport, TlsFileRole,
    TlsFiles, TlsSetupError, Transport, TransportEvent,
};
use locker_proto::uplink::{Response, Upward};
use serialport::{SerialPort, TTYPort};
use support::broker::{BANK, Broker, BrokerTls, password_file};
use support::pki::{Holder, Issued, TestCa};
use support::program::{Program, gateway_command};
use support::*;

const USER: &str = "bank-e2e";
const PASSWORD: &str = "correct horse battery staple";

/// A broker that speaks TLS only, with a certificate from the test's CA
/// (for 127.0.0.1 unless told otherwise), and asks every client for a
/// certificate from the same CA and a password; and what a client of that
/// broker holds.
struct TlsBroker {
    dir: PathBuf,
    ca: TestCa,
    broker: Broker,
    client: Issued,
    password: PathBuf,
}

impl TlsBroker {
    fn start(name: &str) -> Self {
        Self::named(name, &["127.0.0.1", "localhost"])
    }

    /// The broker's certificate carries `names` (and nothing else).
    fn named(name: &str, names: &[&str]) -> Self {
        let dir = scratch_dir(name);
        let ca = TestCa::new(&dir, "locker-test-ca");
        let server = ca.issue(Holder::Server, names);
        let client = ca.issue(Holder::Client, &["gateway.bank-e2e"]);
        let broker = Broker::start_tls(
            &dir,
            &BrokerTls {
                ca: ca.certificate.clone(),
                certificate: server.certificate,
                key: server.key,
                require_client_certificate: true,
                passwords: Some(password_file(&dir, USER, PASSWORD)),
            },
        );
        let password = dir.join("mqtt.password");
        std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
        TlsBroker {
            dir,
            ca,
            broker,
            client,
            password,
        }
    }

    /// The `--mqtt…` options of a client that holds everything it should.
    fn flags(&self) -> Vec<String> {
        [
            "--mqtt",
            &self.broker.address(),
            "--mqtt-ca",
            &text(&self.ca.certificate),
            "--mqtt-cert",
            &text(&self.client.certificate),
            "--mqtt-key",
            &text(&self.client.key),
            "--mqtt-user",
            USER,
            "--mqtt-password-file",
            &text(&self.password),
        ]
        .map(String::from)
        .to_vec()
    }

    /// Those options with `flag` given `value` instead.
    fn flags_with(&self, flag: &str, value: &str) -> Vec<String> {
        let mut flags = self.flags();
        let at = flags.iter().position(|f| f == flag).unwrap();
        flags[at + 1] = value.to_string();
        flags
    }
}

/// `flags` without `flag` and its value.
fn without(mut flags: Vec<String>, flag: &str) -> Vec<String> {
    let at = flags.iter().position(|f| f == flag).unwrap();
    flags.drain(at..at + 2);
    flags
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        self.broker.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// The settings the programs make of `flags`, through the code they share.
fn settings(flags: &[String], client_id: &str) -> Result<MqttSettings, MqttFlagError> {
    let mut mqtt = MqttFlags::default();
    let mut args = flags.iter().cloned();
    while let Some(flag) = args.next() {
        assert!(
            mqtt.take(&flag, || args.next())?,
            "{flag} is an MQTT option"
        );
    }
    Ok(mqtt.settings(client_id, BANK)?.expect("--mqtt was given"))
}

/// Tries to connect as `settings`: the reason it was turned away. Fails the
/// test if it got through, then or in the attempts of the next second.
fn turned_away(settings: &MqttSettings) -> BrokerFailure {
    let mut transport = MqttTransport::backend(settings);
    let failures = transport.take_failures().unwrap();
    let failure = failures
        .recv_timeout(PATIENCE)
        .expect("the attempt neither failed nor got through");
    eprintln!("turned away: {failure}");
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        assert_ne!(transport.poll(), Some(TransportEvent::Up), "{failure}");
        assert!(!transport.is_connected(), "got through after {failure}");
        std::thread::sleep(Duration::from_millis(20));
    }
    failure
}

/// Waits until `transport` is connected; fails the test after [`PATIENCE`].
fn wait_until_up(transport: &mut MqttTransport) {
    let failures = transport.take_failures().unwrap();
    let started = Instant::now();
    while transport.poll() != Some(TransportEvent::Up) {
        assert!(
            started.elapsed() < PATIENCE,
            "never connected: {:?}",
            failures.try_iter().collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- Through the broker ----------------------------------------------------

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn gateway_and_backend_talk_over_tls_with_client_certificates_and_a_password() {
    let tls = TlsBroker::start("mqtt-tls");
    let gateway_settings = settings(&tls.flags(), "gateway").unwrap();
    assert!(gateway_settings.tls.is_some());
    assert_eq!(gateway_settings.cleartext_warning(), None);
    let backend_settings = settings(&tls.flags(), "backend").unwrap();

    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let _node = SimulatedNode::start(node_end, cabinet.clone());
    let gateway = Gateway::start_with_uplink(
        gateway_config(&tls.dir),
        connected(gateway_end),
        Some((
            uplink_settings(&tls.dir, Encoding::Json),
            Box::new(MqttTransport::gateway(&gateway_settings)),
        )),
    )
    .unwrap();
    let mut world = World {
        gateway,
        backend: BackendEnd::new(
            Box::new(MqttTransport::backend(&backend_settings)),
            Encoding::Json,
        ),
        cabinet,
        notices: Vec::new(),
    };
    // Up: the boot notification; down and up again: a request and its answer.
    world.run_until("the boot notification over TLS", |w| {
        !w.backend.boots().is_empty() && w.gateway.status_reports() > 0
    });
    assert!(matches!(
        world.ask(reserve_small()),
        Ok(Response::Reserved { .. })
    ));
    world.run_until("every message acknowledged", |w| {
        w.gateway.uplink_backlog() == Some(0)
    });
    assert!(
        world
            .backend
            .applied()
            .iter()
            .any(|m| matches!(m.body, Upward::ParcelEvent(_)))
    );
    world.gateway.shutdown().unwrap();
}

/// The bank secret the test's keys come from, in a file the programs read.
fn bank_secret_file(dir: &Path) -> PathBuf {
    let file = dir.join("bank.secret");
    std::fs::write(&file, locker_examples::secret::to_hex(&[0x3c; 32])).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    file
}

fn backend_program(flags: &[String], secret: &Path) -> Program {
    let mut command = Command::new(env!("CARGO_BIN_EXE_locker-backend"));
    command
        .args(flags)
        .args(["--bank-id", BANK])
        .arg("--bank-secret")
        .arg(secret);
    Program::spawn(command)
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn the_shipped_gateway_and_backend_talk_over_tls_given_the_same_options() {
    let tls = TlsBroker::start("mqtt-tls-programs");
    let secret = bank_secret_file(&tls.dir);
    let bus_key = tls.dir.join("bus.key");
    std::fs::write(&bus_key, locker_examples::secret::to_hex(&BUS_KEY)).unwrap();
    std::fs::set_permissions(
        &bus_key,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let cabinet = new_cabinet();
    let (node_end, gateway_end) = TTYPort::pair().unwrap();
    let terminal = gateway_end.name().expect("the terminal has a path");
    let _node = SimulatedNode::start(node_end, cabinet);

    let mut command = gateway_command(&terminal, &tls.dir);
    command
        .args(["--bank-id", BANK])
        .arg("--uplink-dir")
        .arg(tls.dir.join("uplink"))
        .arg("--bus-key")
        .arg(&bus_key)
        .args(tls.flags());
    let mut gateway = Program::spawn(command);
    let mut backend = backend_program(&tls.flags(), &secret);

    backend.expect("connected to the MQTT broker 127.0.0.1");
    backend.expect("\"boot_notification\"");
    backend.say("reserve small");
    backend.expect("sent request");
    let answer = backend.expect("\"call_result\"");
    assert!(answer.contains("\"reserved\""), "{answer}");
    gateway.say("quit");
    gateway.expect("persisting and stopping");
    assert!(gateway.child.wait().unwrap().success());
    for line in gateway.said().iter().chain(backend.said()) {
        assert!(
            !line.contains("in clear") && !line.contains("trying again"),
            "no warning and no broker trouble expected: {line}"
        );
    }
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn a_client_that_trusts_another_ca_refuses_the_broker_and_says_why() {
    let tls = TlsBroker::start("mqtt-tls-other-ca");
    // A broker impersonated, as the client sees it: the certificate it is
    // shown is not signed by the CA it trusts.
    let other = TestCa::new(&tls.dir, "another-ca");
    let flags = tls.flags_with("--mqtt-ca", &text(&other.certificate));
    let failure = turned_away(&settings(&flags, "backend").unwrap());
    let BrokerFailure::Tls(reason) = &failure else {
        panic!("not a TLS failure: {failure:?}");
    };
    assert!(reason.contains("not signed by the trusted CA"), "{reason}");

    // The program says so on standard error, and never says it connected.
    let secret = bank_secret_file(&tls.dir);
    let mut backend = backend_program(&flags, &secret);
    let line = backend.expect("MQTT broker 127.0.0.1");
    assert!(line.contains(" WARN "), "a warning in the log: {line}");
    assert!(
        line.contains("(TLS)") && line.contains("not signed by the trusted CA"),
        "{line}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !backend.said().iter().any(|l| l.contains("connected")),
        "{:#?}",
        backend.said()
    );
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn a_certificate_for_another_name_is_refused_unless_the_operator_names_it() {
    // The broker's certificate names it, not the address the client dials.
    let tls = TlsBroker::named("mqtt-tls-name", &["broker.bank-e2e.test"]);
    let flags = tls.flags();
    let failure = turned_away(&settings(&flags, "backend").unwrap());
    assert!(
        matches!(&failure, BrokerFailure::Tls(r) if r.contains("does not carry the name")),
        "{failure:?}"
    );

    let mut named = flags;
    named.extend(["--mqtt-server-name", "broker.bank-e2e.test"].map(String::from));
    let mut transport = MqttTransport::backend(&settings(&named, "backend").unwrap());
    wait_until_up(&mut transport);
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn a_client_without_a_certificate_or_with_a_wrong_password_is_turned_away() {
    let tls = TlsBroker::start("mqtt-tls-strangers");
    // TLS, the right CA and password, but no client certificate.
    let flags = without(without(tls.flags(), "--mqtt-cert"), "--mqtt-key");
    let failure = turned_away(&settings(&flags, "stranger").unwrap());
    assert!(matches!(failure, BrokerFailure::Tls(_)), "{failure:?}");

    // Every certificate in order, the wrong password.
    let wrong = tls.dir.join("wrong.password");
    std::fs::write(&wrong, "guess\n").unwrap();
    let flags = tls.flags_with("--mqtt-password-file", &text(&wrong));
    let failure = turned_away(&settings(&flags, "stranger").unwrap());
    assert!(matches!(failure, BrokerFailure::Refused(_)), "{failure:?}");
}

#[test]
#[ignore = "needs mosquitto on PATH; .ci/run installs it"]
fn plain_tcp_to_the_tls_port_gets_nothing_through() {
    let tls = TlsBroker::start("mqtt-tls-plain");
    // The gateway's settings without TLS: the same port, user and password.
    let flags = [
        "--mqtt",
        &tls.broker.address(),
        "--mqtt-user",
        USER,
        "--mqtt-password-file",
        &text(&tls.password),
    ]
    .map(String::from);
    let plain = settings(&flags, "gateway").unwrap();
    assert!(plain.tls.is_none());
    assert!(plain.cleartext_warning().is_some());
    let failure = turned_away(&plain);
    assert!(matches!(failure, BrokerFailure::Network(_)), "{failure:?}");

    // Nor does a message published in clear reach a subscriber on TLS.
    let mut listener = MqttTransport::gateway(&settings(&tls.flags(), "gateway").unwrap());
    wait_until_up(&mut listener);
    let mut sender = MqttTransport::backend(&plain);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let _ = sender.send(b"{\"v\":1}");
        assert_eq!(sender.poll().filter(|e| *e == TransportEvent::Up), None);
        assert!(
            !matches!(listener.poll(), Some(TransportEvent::Message(_))),
            "a message crossed from plain TCP"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- Refused at start, before any connection -------------------------------

#[test]
fn every_bad_tls_file_is_refused_naming_the_file_and_what_is_wrong() {
    let dir = scratch_dir("mqtt-tls-files");
    let ca = TestCa::new(&dir, "locker-test-ca");
    let client = ca.issue(Holder::Client, &["gateway.bank-e2e"]);
    let stranger = ca.issue(Holder::Client, &["someone.else"]);
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let pem = std::fs::read_to_string(&ca.certificate).unwrap();
    let der = der_of(&pem);
    let load = |files: TlsFiles| files.load("127.0.0.1").map(|_| ()).unwrap_err();
    let with_client = |certificate: &Path, key: &Path| TlsFiles {
        client_identity: Some((certificate.to_path_buf(), key.to_path_buf())),
        ..TlsFiles::new(&ca.certificate)
    };

    let missing = dir.join("no-such-ca.pem");
    let error = load(TlsFiles::new(&missing));
    assert!(
        matches!(&error, TlsSetupError::Unreadable { role: TlsFileRole::Ca, path, .. } if *path == missing),
        "{error:?}"
    );
    assert!(error.to_string().contains("no-such-ca.pem"), "{error}");

    let error = load(TlsFiles::new(write("ca.der", &der)));
    assert!(matches!(
        error,
        TlsSetupError::NoCertificate {
            role: TlsFileRole::Ca,
            ..
        }
    ));
    assert!(
        error.to_string().contains("ca.der")
            && error.to_string().contains("openssl x509 -inform der"),
        "{error}"
    );

    let error = load(TlsFiles::new(write("empty.pem", b"")));
    assert!(error.to_string().contains("the file is empty"), "{error}");

    let error = load(TlsFiles::new(&client.key));
    assert!(
        error.to_string().contains("it holds a private key"),
        "{error}"
    );

    let cut = &pem[..pem.len() - 30];
    let error = load(TlsFiles::new(write("cut.pem", cut.as_bytes())));
    assert!(
        matches!(
            error,
            TlsSetupError::BadPem {
                role: TlsFileRole::Ca,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("not closed"), "{error}");

    let garbled = pem.replace("-----\n", "-----\n!!!!");
    let error = load(TlsFiles::new(write("garbled.pem", garbled.as_bytes())));
    assert!(matches!(error, TlsSetupError::BadPem { .. }), "{error:?}");

    let error = load(with_client(&client.certificate, &client.certificate));
    assert!(matches!(error, TlsSetupError::NoKey { .. }), "{error:?}");
    assert!(
        error.to_string().contains("holds a certificate, not a key"),
        "{error}"
    );

    let encrypted = write(
        "encrypted.key",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let error = load(with_client(&client.certificate, &encrypted));
    assert!(error.to_string().contains("encrypted key"), "{error}");

    let error = load(with_client(&client.key, &client.key));
    assert!(
        matches!(
            error,
            TlsSetupError::NoCertificate {
                role: TlsFileRole::ClientCertificate,
                ..
            }
        ),
        "{error:?}"
    );

    // Someone else's key with our certificate: refused here, not by the broker.
    let error = load(with_client(&client.certificate, &stranger.key));
    assert!(
        matches!(error, TlsSetupError::ClientIdentity { .. }),
        "{error:?}"
    );

    let error = load(TlsFiles {
        server_name: Some("not a name".into()),
        ..TlsFiles::new(&ca.certificate)
    });
    assert!(
        matches!(error, TlsSetupError::ServerName { .. }),
        "{error:?}"
    );

    // All in order: loads.
    with_client(&client.certificate, &client.key)
        .load("127.0.0.1")
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DER bytes of the first certificate in a PEM text.
fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn options_that_contradict_or_come_half_are_refused_naming_the_option() {
    let dir = scratch_dir("mqtt-tls-flags");
    let ca = TestCa::new(&dir, "locker-test-ca");
    let client = ca.issue(Holder::Client, &["gateway.bank-e2e"]);
    let ca_file = text(&ca.certificate);
    let refused = |flags: &[&str]| {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        settings(&flags, "gateway")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };

    let e = refused(&["--mqtt", "mqtts://broker.example"]);
    assert!(
        e.contains("mqtts://") && e.contains("--mqtt-ca FILE"),
        "{e}"
    );
    let e = refused(&["--mqtt", "mqtt://broker.example", "--mqtt-ca", &ca_file]);
    assert!(e.contains("plain TCP"), "{e}");
    let e = refused(&[
        "--mqtt",
        "broker.example:8883",
        "--mqtt-ca",
        &ca_file,
        "--mqtt-cert",
        &text(&client.certificate),
    ]);
    assert!(e.contains("--mqtt-cert and --mqtt-key go together"), "{e}");
    let e = refused(&[
        "--mqtt",
        "broker.example:8883",
        "--mqtt-key",
        &text(&client.key),
        "--mqtt-cert",
        &text(&client.certificate),
    ]);
    assert!(e.contains("--mqtt-cert is for TLS"), "{e}");
    let e = refused(&["--mqtt", "broker.example"]);
    assert!(e.contains("HOST:PORT"), "{e}");
    let e = refused(&[
        "--mqtt",
        "broker.example:8883",
        "--mqtt-ca",
        "/nonexistent/ca.pem",
    ]);
    assert!(
        e.starts_with("--mqtt-ca: cannot read the CA certificate file /nonexistent/ca.pem"),
        "{e}"
    );

    let mut flags = MqttFlags::default();
    assert!(flags.take("--mqtt-ca", || Some(ca_file.clone())).unwrap());
    let e = flags.settings("gateway", BANK).unwrap_err().to_string();
    assert!(
        e.contains("--mqtt-ca is for the broker, but no --mqtt"),
        "{e}"
    );
    assert!(matches!(
        MqttFlags::default().take("--mqtt-key", || None),
        Err(MqttFlagError::MissingValue { flag: "--mqtt-key" })
    ));

    // An mqtts:// address with its CA: TLS on the default port.
    let flags = ["--mqtt", "mqtts://localhost", "--mqtt-ca", &ca_file].map(String::from);
    let tls = settings(&flags, "gateway").unwrap();
    assert_eq!(
        (tls.host.as_str(), tls.port, tls.tls.is_some()),
        ("localhost", 8883, true)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a program that must refuse to start: what it said on standard error.
fn refused_start(command: &mut Command) -> String {
    let run = command.output().unwrap();
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    String::from_utf8(run.stderr).unwrap()
}

#[test]
fn the_programs_refuse_a_bad_tls_file_at_start_and_change_no_file() {
    let dir = scratch_dir("mqtt-tls-programs-refuse");
    let ca = TestCa::new(&dir, "locker-test-ca");
    let not_pem = dir.join("ca.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let secret = dir.join("bank.secret");

    // The gateway: exit code 2, the option and the file named, and the bank
    // secret it would have created is not there.
    let err = refused_start(
        gateway_command("/dev/null/no-such-port", &dir)
            .args(["--mqtt", "127.0.0.1:1", "--mqtt-ca"])
            .arg(&not_pem),
    );
    assert!(
        err.contains("--mqtt-ca: the CA certificate file") && err.contains("ca.txt"),
        "{err}"
    );
    assert!(!secret.exists(), "a refused start created the bank secret");
    assert!(!dir.join("bank.state").exists() && !dir.join("audit.jsonl").exists());

    // The backend: a key file that does not exist.
    let secret = bank_secret_file(&dir);
    let err = refused_start(
        Command::new(env!("CARGO_BIN_EXE_locker-backend"))
            .args(["--mqtt", "127.0.0.1:1", "--mqtt-ca"])
            .arg(&ca.certificate)
            .arg("--mqtt-cert")
            .arg(&ca.certificate)
            .args(["--mqtt-key", "/nonexistent/client.key", "--bank-secret"])
            .arg(&secret),
    );
    assert!(
        err.contains("--mqtt-key: cannot read the client key file /nonexistent/client.key"),
        "{err}"
    );

    // Credentials without TLS: it starts, and warns that they cross in clear.
    let password = dir.join("mqtt.password");
    std::fs::write(&password, "secret\n").unwrap();
    let mut backend = Command::new(env!("CARGO_BIN_EXE_locker-backend"));
    backend
        .args([
            "--mqtt",
            "127.0.0.1:1",
            "--mqtt-user",
            "backend",
            "--mqtt-password-file",
        ])
        .arg(&password)
        .arg("--bank-secret")
        .arg(&secret);
    let mut backend = Program::spawn(backend);
    let warning = backend.expect("cross the network in clear");
    assert!(warning.contains(" WARN "), "{warning}");
    assert!(
        backend.log.contains(&warning),
        "a warning goes to standard error"
    );
    drop(backend);
    let _ = std::fs::remove_dir_all(&dir);
}
