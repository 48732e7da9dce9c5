//! A Mosquitto of the test's own on a free loopback port: plain TCP, or TLS
//! with the test's certificates, optionally asking clients for a
//! certificate and a password.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use locker_examples::uplink::MqttSettings;

/// The bank the brokers' tests use.
pub const BANK: &str = "bank-e2e";

/// How the broker's TLS listener is set up.
pub struct BrokerTls {
    /// The CA that signed the server certificate and the client
    /// certificates it accepts.
    pub ca: PathBuf,
    /// The broker's certificate and key.
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// Whether a client must show a certificate signed by `ca`.
    pub require_client_certificate: bool,
    /// A mosquitto password file ([`password_file`]): without it anyone
    /// may connect.
    pub passwords: Option<PathBuf>,
}

/// A mosquitto of our own, killed when dropped.
pub struct Broker {
    program: PathBuf,
    config: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

/// The mosquitto program, or a failure: these tests need a real broker and
/// never skip without one.
fn mosquitto(name: &str) -> PathBuf {
    [PathBuf::from(name), Path::new("/usr/sbin").join(name)]
        .into_iter()
        .chain([Path::new("/usr/bin").join(name)])
        .find(|p| {
            Command::new(p)
                .arg("-h")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: `apt-get install -y mosquitto` (this test \
                 needs a real broker and does not skip without one)"
            )
        })
}

impl Broker {
    /// Plain TCP, anyone welcome.
    pub fn start(dir: &Path) -> Self {
        Self::launch(dir, "allow_anonymous true\n".to_string())
    }

    /// TLS only: the listener speaks nothing else.
    pub fn start_tls(dir: &Path, tls: &BrokerTls) -> Self {
        let mut config = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
            tls.ca.display(),
            tls.certificate.display(),
            tls.key.display(),
            tls.require_client_certificate,
        );
        match &tls.passwords {
            Some(file) => {
                config += &format!("allow_anonymous false\npassword_file {}\n", file.display());
            }
            None => config += "allow_anonymous true\n",
        }
        Self::launch(dir, config)
    }

    fn launch(dir: &Path, listener: String) -> Self {
        let program = mosquitto("mosquitto");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("mosquitto.conf");
        std::fs::write(
            &config,
            format!("listener {port} 127.0.0.1\n{listener}persistence false\n"),
        )
        .unwrap();
        let mut broker = Broker {
            program,
            config,
            port,
            child: None,
        };
        broker.run();
        broker
    }

    pub fn run(&mut self) {
        let child = Command::new(&self.program)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on port {} (configuration: {:?})",
                self.port,
                std::fs::read_to_string(&self.config)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Plain TCP settings for client `client_id` of [`BANK`].
    pub fn settings(&self, client_id: &str) -> MqttSettings {
        MqttSettings::new("127.0.0.1", self.port, client_id, BANK)
    }

    /// `--mqtt` for the programs.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A mosquitto password file in `dir` with one user.
pub fn password_file(dir: &Path, user: &str, password: &str) -> PathBuf {
    let file = dir.join("mosquitto.passwd");
    let status = Command::new(mosquitto("mosquitto_passwd"))
        .arg("-b")
        .arg("-c")
        .arg(&file)
        .args([user, password])
        .status()
        .unwrap();
    assert!(status.success(), "mosquitto_passwd failed");
    file
}
