//! The `dead_sensor` incident: a compartment's load cell stops answering
//! its node (a dead amplifier, a cut wire), so every reading fails.
//!
//! The node reports the failure once (`FaultCode::PresenceSensorFailed`)
//! instead of taking the silence for an empty compartment; the bank calls
//! staff with it (the maintenance alert, its evidence the fault) and takes
//! the compartment out of service, so no courier is sent to a compartment
//! where no deposit could be verified. That alert is the detection; it
//! comes with the node's next reading and its report across the bus, "at
//! once". Only hands fix it: staff replace the cell on their next round,
//! the node reads again and says so, and the bank puts the compartment
//! back by itself.

use locker_proto::time::{Duration, Instant};

use super::super::incidents::IncidentKind;
use super::super::kerong::Board;
use super::super::world::Task;
use super::SimBank;

/// A day, in milliseconds.
const DAY: u64 = 24 * 3_600_000;

impl SimBank {
    /// The day's dead load cells, drawn from their own random stream (so
    /// that adding them changed no other incident of a seed).
    pub(super) fn plan_dead_cells(&mut self, start: Instant) {
        let scale = self.len() as f64 / 48.0;
        let mean = self.config.rates.get(IncidentKind::DeadSensor) * scale;
        for _ in 0..self.dead_cell_dice.poisson(mean) {
            let at = start + Duration::from_millis(self.dead_cell_dice.between(0, DAY - 1));
            self.agenda.at(at, Task::Incident(IncidentKind::DeadSensor));
        }
    }

    /// A load cell chosen at random stops answering. A Kerong board's IR
    /// beams are read by the board, not by a driver of ours: nothing dies
    /// there.
    pub(super) fn kill_a_cell(&mut self) {
        if self.config.board == Board::KerongCu16 || self.is_empty() {
            return;
        }
        let slot = self.dead_cell_dice.between(0, self.len() as u64 - 1) as usize;
        if self.incidents.is_open(IncidentKind::DeadSensor, Some(slot)) {
            return;
        }
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        c.set_presence_failed(true);
        self.start_incident(IncidentKind::DeadSensor, Some(slot));
        self.note(Some(slot), "load cell stops answering".to_string());
    }

    /// Whether staff know of a dead cell at `slot` (an alert named it).
    pub(super) fn dead_cell_known(&self, slot: usize) -> bool {
        self.incidents
            .is_known(IncidentKind::DeadSensor, Some(slot))
    }

    /// Staff replace `slot`'s dead cell: it reads again (the node says so,
    /// and the bank puts the compartment back).
    pub(super) fn replace_dead_cell(&mut self, slot: usize) {
        if let Some(c) = self.compartment_mut(slot) {
            c.set_presence_failed(false);
        }
    }
}
