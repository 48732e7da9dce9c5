//! One of the shipped programs run by a test: lines typed on its standard
//! input, its output lines (standard output and error together) awaited,
//! and its log (standard error) kept apart as well.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use super::PATIENCE;

/// `locker-gateway` on serial port `port` with one node of four
/// compartments, its state, audit log and bank secret in `dir`, stopping by
/// itself after a minute; the test adds the rest.
pub fn gateway_command(port: &str, dir: &Path) -> Command {
    gateway_command_for(port, dir, 1)
}

/// [`gateway_command`] for the node at bus address `node`.
pub fn gateway_command_for(port: &str, dir: &Path, node: u8) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_locker-gateway"));
    command
        .args([
            "--port",
            port,
            "--nodes",
            &node.to_string(),
            "--channels",
            "4",
        ])
        .args(["--exit-after", "60"])
        .arg("--state")
        .arg(dir.join("bank.state"))
        .arg("--audit")
        .arg(dir.join("audit.jsonl"))
        .arg("--bank-secret")
        .arg(dir.join("bank.secret"));
    command
}

/// A running program, killed if the test fails.
pub struct Program {
    pub child: Child,
    stdin: ChildStdin,
    lines: Receiver<(bool, String)>,
    /// Every line it printed so far, standard output and error mixed.
    pub seen: Vec<String>,
    /// The lines of [`Program::seen`] that came on standard error: the log.
    pub log: Vec<String>,
}

impl Program {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let readers: [(bool, Box<dyn std::io::Read + Send>); 2] =
            [(false, Box::new(stdout)), (true, Box::new(stderr))];
        for (is_log, reader) in readers {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in std::io::BufReader::new(reader).lines() {
                    let Ok(line) = line else { return };
                    if tx.send((is_log, line)).is_err() {
                        return;
                    }
                }
            });
        }
        Program {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            log: Vec::new(),
        }
    }

    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The first output line containing `text`, waiting at most [`PATIENCE`].
    pub fn expect(&mut self, text: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let left = PATIENCE.saturating_sub(started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok((is_log, line)) => {
                    self.keep(is_log, &line);
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?}; the program said {:#?}", self.seen),
            }
        }
    }

    /// Every line printed so far (waiting for none).
    pub fn said(&mut self) -> &[String] {
        while let Ok((is_log, line)) = self.lines.try_recv() {
            self.keep(is_log, &line);
        }
        &self.seen
    }

    /// Waits for the program to end, then reads every line it printed.
    #[allow(dead_code)]
    pub fn finish(&mut self) -> std::process::ExitStatus {
        let status = self.child.wait().unwrap();
        while let Ok((is_log, line)) = self.lines.recv_timeout(PATIENCE) {
            self.keep(is_log, &line);
        }
        status
    }

    /// A courier's `deposit small` on a gateway's console: the compartment
    /// it unlocks and the pickup code it gives (six digits; the bank keeps
    /// only its hash).
    pub fn deposit_small(&mut self) -> (u16, String) {
        self.say("deposit small");
        let reply = self.expect("unlocking for parcel");
        let number: u16 = reply
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no compartment number in {reply:?}"));
        let code = reply.rsplit(' ').next().unwrap().to_string();
        assert_eq!(code.len(), 6, "{reply}");
        (number, code)
    }

    /// Asks a gateway's console for its books until compartment `number` is
    /// free again (the pickup verified), at most [`PATIENCE`].
    pub fn await_free(&mut self, number: u16) {
        let started = std::time::Instant::now();
        loop {
            self.say("status");
            let line = self.expect(&format!("compartment {number}:"));
            if line.contains(": Free") {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the pickup was never verified: {:#?}",
                self.seen
            );
            thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Stops a gateway from its console and waits until it has persisted
    /// and exited successfully.
    pub fn quit(&mut self) {
        self.say("quit");
        self.expect("persisting and stopping");
        let status = self.finish();
        assert!(status.success(), "{:#?}", self.seen);
    }

    fn keep(&mut self, is_log: bool, line: &str) {
        self.seen.push(line.to_string());
        if is_log {
            self.log.push(line.to_string());
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
