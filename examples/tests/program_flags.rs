//! The programs' command lines as an operator meets them: `--version`, a
//! config file with a mistake in it refused at start naming the file, the
//! line and the key, a bad flag named, flags over the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

const GATEWAY: &str = env!("CARGO_BIN_EXE_locker-gateway");
const BACKEND: &str = env!("CARGO_BIN_EXE_locker-backend");
const SIM: &str = env!("CARGO_BIN_EXE_locker-sim");

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// `locker-gateway --config FILE` where FILE holds `text`: its stderr,
/// after checking it refused to start and changed nothing in `dir`.
fn refused_config(dir: &Path, text: &str) -> String {
    let config = dir.join("gateway.toml");
    std::fs::write(&config, text).unwrap();
    let output = run(GATEWAY, &["--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let names: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert_eq!(names.len(), 1, "a refused start wrote files: {names:?}");
    stderr(&output)
}

#[test]
fn every_program_tells_its_version() {
    for program in [GATEWAY, BACKEND, SIM] {
        let output = run(program, &["--version"]);
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let name = Path::new(program).file_name().unwrap().to_str().unwrap();
        assert_eq!(text.trim(), format!("{name} {}", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_naming_file_line_and_key() {
    let dir = support::scratch_dir("unknown");
    let err = refused_config(
        &dir,
        "port = \"/dev/ttyUSB0\"\nnodes = [1, 2]\n\n# a typo\nchanels = 16\n",
    );
    assert!(err.contains("gateway.toml"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("key `chanels`"), "{err}");
    assert!(err.contains("not an option"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_secret_written_into_the_config_file_is_refused() {
    let dir = support::scratch_dir("secret");
    let err = refused_config(
        &dir,
        "port = \"/dev/ttyUSB0\"\nmqtt-password = \"hunter2\"\n",
    );
    assert!(
        err.contains("line 2") && err.contains("key `mqtt-password`"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the refusal repeats the secret: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_value_of_the_wrong_type_is_refused_naming_file_line_and_key() {
    let dir = support::scratch_dir("type");
    let err = refused_config(&dir, "port = \"/dev/ttyUSB0\"\nchannels = \"sixteen\"\n");
    assert!(
        err.contains("gateway.toml, line 2, key `channels`"),
        "{err}"
    );
    let err = refused_config(&dir, "port = \"/dev/ttyUSB0\"\nnodes = \"1,two\"\n");
    assert!(err.contains("line 2, key `nodes`"), "{err}");
    let err = refused_config(&dir, "nodes = [\n  1,\n  2,\n  \"three\",\n]\n");
    assert!(err.contains("line 4, key `nodes`"), "{err}");
    let err = refused_config(&dir, "channels = 99\n");
    assert!(
        err.contains("line 1, key `channels`") && err.contains("1..=32"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_required_value_missing_from_flags_and_file_is_named_with_its_key() {
    let dir = support::scratch_dir("missing");
    let err = refused_config(
        &dir,
        "port = \"/dev/null/no-such-port\"\nnodes = [1]\naudit = \"audit.jsonl\"\n",
    );
    assert!(
        err.contains("--state FILE is required") && err.contains("`state`"),
        "{err}"
    );
    assert!(err.contains("gateway.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_win_over_the_config_file() {
    let dir = support::scratch_dir("over");
    let config = dir.join("gateway.toml");
    let state = dir.join("bank.state");
    std::fs::write(&state, b"not a snapshot").unwrap();
    std::fs::write(
        &config,
        format!(
            "port = \"/dev/null/no-such-port\"\nnodes = \"1\"\nstate = {:?}\n\
             audit = {:?}\nbank-secret = {:?}\n",
            dir.join("elsewhere.state").display().to_string(),
            dir.join("audit.jsonl").display().to_string(),
            dir.join("bank.secret").display().to_string(),
        ),
    )
    .unwrap();
    // The state file of the flag is read (and refused), not the file's.
    let output = run(
        GATEWAY,
        &[
            "-c",
            config.to_str().unwrap(),
            &format!("--state={}", state.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("refusing to start") && err.contains("bank.state"),
        "{err}"
    );
    assert!(
        err.contains(" ERROR "),
        "a plain log line with its level: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn under_systemd_the_secrets_come_from_the_credentials_directory() {
    let dir = support::scratch_dir("credentials");
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials).unwrap();
    // What `LoadCredential=bank-secret:/etc/locker/bank.secret` leaves:
    // a copy its owner alone can read.
    let secret = credentials.join("bank-secret");
    std::fs::write(&secret, format!("{}\n", "5a".repeat(32))).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o400)).unwrap();
    }
    let state = dir.join("bank.state");
    std::fs::write(&state, b"not a snapshot").unwrap();
    let start = |with_credentials: bool| {
        let mut command = Command::new(GATEWAY);
        command
            .args([
                "--port=/dev/null/no-such-port",
                "--nodes=1",
                &format!("--state={}", state.display()),
                &format!("--audit={}", dir.join("audit.jsonl").display()),
            ])
            .env_remove("RUST_LOG")
            .env_remove("LOCKER_BANK_SECRET")
            .env_remove("CREDENTIALS_DIRECTORY");
        if with_credentials {
            command.env("CREDENTIALS_DIRECTORY", &credentials);
        }
        command.output().unwrap()
    };
    // Without the credential the secret is missing, and the message says
    // where it may come from.
    let output = start(false);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("credential bank-secret"),
        "{}",
        stderr(&output)
    );
    // With it, the start goes on to the state file (and refuses that one).
    let output = start(true);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("refusing to start") && err.contains("bank.state"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_flag_is_named() {
    for (program, args, named) in [
        (GATEWAY, &["--channels", "many"][..], "--channels"),
        (GATEWAY, &["--board=kerong-cu99"][..], "--board"),
        (GATEWAY, &["--nodes", "1,x"][..], "--nodes"),
        (GATEWAY, &["--no-such-flag"][..], "--no-such-flag"),
        (BACKEND, &["--encoding", "xml"][..], "--encoding"),
        (BACKEND, &["--bank-number", "one"][..], "--bank-number"),
        (SIM, &["--days=0"][..], "--days"),
        (SIM, &["--rate", "meteor=1"][..], "--rate"),
    ] {
        let output = run(program, args);
        assert_eq!(output.status.code(), Some(2), "{program} {args:?}");
        let err = stderr(&output);
        assert!(err.contains(named), "{program} {args:?}: {err}");
        assert!(output.stdout.is_empty(), "{program} {args:?}");
    }
}

/// `locker-gateway` started with `flags` on top of the required ones:
/// refused with exit code 2, having written no file; its standard error.
fn refused_gateway_start(name: &str, flags: &[&str]) -> String {
    let dir = support::scratch_dir(name);
    let state = format!("--state={}", dir.join("bank.state").display());
    let audit = format!("--audit={}", dir.join("audit.jsonl").display());
    let output = Command::new(GATEWAY)
        .args(["--port=/dev/null/no-such-port", "--nodes=1", &state, &audit])
        .args(flags)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "a refused start writes no file"
    );
    let _ = std::fs::remove_dir_all(&dir);
    stderr(&output)
}

#[test]
fn a_time_zone_the_bank_cannot_keep_is_refused_at_start_with_the_reason() {
    let err = refused_gateway_start("time-zone", &["--time-zone=EST5EDT"]);
    assert!(
        err.contains("--time-zone \"EST5EDT\"") && err.contains("summer time needs its rule"),
        "{err}"
    );
}

#[test]
fn a_drift_band_in_other_units_than_the_nodes_threshold_is_refused_at_start() {
    // Raw-count load cells (a 2,100-count threshold) with a band meant for
    // grams: every cell's noise would be drift.
    let err = refused_gateway_start(
        "drift-band",
        &["--presence-threshold=2100", "--drift-band=4"],
    );
    assert!(
        err.contains("--presence-threshold / --drift-band")
            && err.contains(
                "the drift band (4) is not in the units of the nodes' presence threshold (2100)"
            ),
        "{err}"
    );
}

#[test]
fn a_bad_log_level_is_refused_naming_where_it_came_from() {
    let output = Command::new(GATEWAY)
        .args(["--port", "/dev/null/x", "--log-level", "loud"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--log-level \"loud\""),
        "{}",
        stderr(&output)
    );
    let output = Command::new(GATEWAY)
        .args(["--port", "/dev/null/x"])
        .env("RUST_LOG", "very=loud=indeed")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("RUST_LOG"), "{}", stderr(&output));
}

/// A broker nobody answers at: the gateway says so once, with the reason
/// and that it keeps trying, and keeps trying (with back-off) in silence.
#[test]
fn an_unreachable_broker_is_logged_once_with_the_reason_and_tried_again() {
    use serialport::SerialPort;

    let dir = support::scratch_dir("no-broker");
    // A port with no node behind it: the bus is not what this test is about.
    let (_node_end, gateway_end) = serialport::TTYPort::pair().unwrap();
    let port = gateway_end.name().unwrap();
    // Port 1 on the loopback: the connection is refused at once, so the
    // gateway tries again many times in the run.
    let output = Command::new(GATEWAY)
        .args([
            "--port",
            &port,
            "--nodes=1",
            "--channels=4",
            "--exit-after=3",
        ])
        .args(["--mqtt", "127.0.0.1:1"])
        .arg("--uplink-dir")
        .arg(dir.join("uplink"))
        .arg("--state")
        .arg(dir.join("bank.state"))
        .arg("--audit")
        .arg(dir.join("audit.jsonl"))
        .arg("--bank-secret")
        .arg(dir.join("bank.secret"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    let told: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("MQTT broker 127.0.0.1:1"))
        .collect();
    assert_eq!(told.len(), 1, "told once, not at every attempt: {err}");
    assert!(told[0].contains(" WARN "), "{}", told[0]);
    assert!(
        told[0].contains("refused") && told[0].contains("trying again"),
        "the reason, and that it goes on: {}",
        told[0]
    );
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout without a console"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_example_config_is_accepted() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/gateway.toml");
    let options = locker_examples::gateway::GatewayOptions::from_file(&path).unwrap();
    assert_eq!(options.port.as_deref(), Some("/dev/ttyUSB0"));
    assert_eq!(options.channels, Some(16));
    assert!(
        options.bank_secret.is_none(),
        "the secrets come from credentials"
    );
}

#[test]
fn a_log_level_for_one_target_leaves_the_others_at_info() {
    let output = run(
        GATEWAY,
        &["--port", "/dev/null/x", "--log-level=rumqttc=debug"],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains(" ERROR ") && err.contains("--state FILE is required"),
        "the refusal is not silenced: {err}"
    );
}
