//! Load cells that break: the `dead_sensor` and `stuck_sensor` incidents.
//!
//! A **dead** cell stops answering its node (a dead amplifier, a cut wire),
//! so every reading fails. The node reports the failure once
//! (`FaultCode::PresenceSensorFailed`) instead of taking the silence for an
//! empty compartment; the bank calls staff with it (the maintenance alert,
//! its evidence the fault) and takes the compartment out of service, so no
//! courier is sent to a compartment where no deposit could be verified.
//! That alert is the detection; it comes with the node's next reading and
//! its report across the bus, "at once".
//!
//! A **stuck** cell's amplifier hangs and repeats its last conversion: the
//! node reads it as ever and sees nothing change, whatever goes in or out.
//! Every simulated cell reads with noise (`node::LOAD_CELL_NOISE`), so the
//! bank's hourly readings of the compartment, bit for bit the same six
//! times in a row, give it away (the maintenance alert with
//! `HealthIssue::PresenceStuck`, the compartment out of service), and so
//! does the reading the bank takes when a door session ends with nothing
//! changed. A courier who deposits in between is told his parcel is not
//! there: the one session a stuck cell spoils.
//!
//! Only hands fix either: staff replace the cell on their next round. A
//! dead cell's node says it reads again, and the bank puts the compartment
//! back by itself; staff put a stuck cell's compartment back.

use locker_proto::time::{Duration, Instant};

use super::super::incidents::IncidentKind;
use super::super::kerong::Board;
use super::super::world::Task;
use super::SimBank;

/// A day, in milliseconds.
const DAY: u64 = 24 * 3_600_000;

impl SimBank {
    /// The day's broken load cells, drawn from their own random stream (so
    /// that adding them changed no other incident of a seed).
    pub(super) fn plan_broken_cells(&mut self, start: Instant) {
        let scale = self.len() as f64 / 48.0;
        for kind in [IncidentKind::DeadSensor, IncidentKind::StuckSensor] {
            let mean = self.config.rates.get(kind) * scale;
            for _ in 0..self.broken_cell_dice.poisson(mean) {
                let at = start + Duration::from_millis(self.broken_cell_dice.between(0, DAY - 1));
                self.agenda.at(at, Task::Incident(kind));
            }
        }
    }

    /// A load cell chosen at random dies (`DeadSensor`) or freezes
    /// (`StuckSensor`). A Kerong board's IR beams are read by the board, not
    /// by a driver of ours: no cell breaks there.
    pub(super) fn break_a_cell(&mut self, kind: IncidentKind) {
        if self.config.board == Board::KerongCu16 || self.is_empty() {
            return;
        }
        let slot = self.broken_cell_dice.between(0, self.len() as u64 - 1) as usize;
        let broken = [IncidentKind::DeadSensor, IncidentKind::StuckSensor]
            .iter()
            .any(|k| self.incidents.is_open(*k, Some(slot)));
        if broken {
            return;
        }
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        let what = if kind == IncidentKind::DeadSensor {
            c.set_presence_failed(true);
            "load cell stops answering"
        } else {
            c.set_presence_frozen(true);
            "load cell freezes (its amplifier repeats its last reading)"
        };
        self.start_incident(kind, Some(slot));
        self.note(Some(slot), what.to_string());
    }

    /// Whether staff know of a broken cell at `slot` (an alert named it).
    pub(super) fn broken_cell_known(&self, slot: usize) -> bool {
        [IncidentKind::DeadSensor, IncidentKind::StuckSensor]
            .iter()
            .any(|k| self.incidents.is_known(*k, Some(slot)))
    }

    /// Staff replace `slot`'s broken cell: it reads again, and reads true.
    pub(super) fn replace_broken_cell(&mut self, slot: usize) {
        if let Some(c) = self.compartment_mut(slot) {
            c.set_presence_failed(false);
            c.set_presence_frozen(false);
        }
    }
}
