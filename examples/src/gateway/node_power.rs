//! Cutting a silent node's power through the operator's own program.
//!
//! The gateway machine decides when a node that stopped answering needs its
//! power cycled ([`GatewayOutput::PowerCycleNode`](locker_domain::gateway::GatewayOutput::PowerCycleNode));
//! how is the installation's: a relay on the node's supply, a smart power
//! strip, a PoE switch port. `locker-gateway --node-power-command PROGRAM`
//! runs `PROGRAM ADDRESS` (the node's bus address, `1` to `247`) for each,
//! without waiting for it: the bus keeps running. A program that exits
//! with a failure, or cannot be started, is a warning on the console.
//!
//! A script that toggles a relay on a GPIO line with libgpiod's tools,
//! one line per node:
//!
//! ```sh
//! #!/bin/sh
//! # cycle-node ADDRESS: cut node ADDRESS's supply for two seconds.
//! line=$((16 + $1))
//! gpioset --mode=time --sec=2 gpiochip0 "$line=1"
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use locker_proto::NodeAddr;

/// The operator's power-cycle program and the runs of it still going.
#[derive(Debug)]
pub struct NodePower {
    program: PathBuf,
    running: Vec<(NodeAddr, Child)>,
}

impl NodePower {
    /// Cycles nodes' power with `program`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        NodePower {
            program: program.into(),
            running: Vec::new(),
        }
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Starts `PROGRAM ADDRESS` for `node`, without waiting for it.
    ///
    /// # Errors
    /// The program could not be started (not found, not executable), in
    /// words for the console.
    pub fn cycle(&mut self, node: NodeAddr) -> Result<(), String> {
        let child = Command::new(&self.program)
            .arg(node.0.to_string())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("{} {}: {e}", self.program.display(), node.0))?;
        self.running.push((node, child));
        Ok(())
    }

    /// The runs that ended since the last call: a line for each that
    /// failed (those that succeeded say nothing).
    pub fn failures(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        let program = self.program.display().to_string();
        self.running
            .retain_mut(|(node, child)| match child.try_wait() {
                Ok(None) => true,
                Ok(Some(status)) => {
                    if !status.success() {
                        failed.push(format!("{program} {} ended with {status}", node.0));
                    }
                    false
                }
                Err(e) => {
                    failed.push(format!("{program} {}: {e}", node.0));
                    false
                }
            });
        failed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn wait_for(power: &mut NodePower) -> Vec<String> {
        for _ in 0..500 {
            if power.running.is_empty() {
                break;
            }
            let failed = power.failures();
            if !failed.is_empty() {
                return failed;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        power.failures()
    }

    #[test]
    fn a_program_that_succeeds_says_nothing_and_one_that_fails_names_the_node() {
        let mut power = NodePower::new("true");
        power.cycle(NodeAddr(3)).unwrap();
        assert!(wait_for(&mut power).is_empty());
        assert!(power.running.is_empty());

        let mut power = NodePower::new("false");
        power.cycle(NodeAddr(4)).unwrap();
        let failed = wait_for(&mut power);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].starts_with("false 4 ended with"), "{failed:?}");
    }

    #[test]
    fn a_program_that_is_not_there_is_said_at_once() {
        let mut power = NodePower::new("/nonexistent/cycle-node");
        let e = power.cycle(NodeAddr(2)).unwrap_err();
        assert!(e.starts_with("/nonexistent/cycle-node 2:"), "{e}");
    }
}
