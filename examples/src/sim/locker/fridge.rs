//! The refrigerated compartments of the simulated bank: chilled at 4.0 °C,
//! and the `fridge_failure` incident, which stops a fridge's cooling so it
//! warms by 1.0 to 2.5 °C an hour until a refrigeration technician repairs
//! it on site.
//!
//! The technician is called by the bank's `temperature_out_of_range`
//! alert and arrives 2 to 6 hours later; a failure the bank never reported
//! (its node down for the whole of it) is found by staff on their daily
//! round once it is 12 hours old. Either way the incident needs a site
//! visit. The oracle's truth for the temperature alerts is the fridge's
//! real temperature against the bank's limits for that compartment.
//!
//! The bank reads every fridge at every quarter-hour scan and alerts after
//! 30 minutes out of range: a failed fridge is reported within 45 minutes
//! of leaving its range, which at these rates is 1.6 to 4 hours after it
//! failed, long before a resident collecting a parcel would find it warm.

use locker_domain::bank::{AlertKind, CompartmentFlags};
use locker_drivers::TemperatureSensor;
use locker_proto::Temperature;
use locker_proto::time::Duration;

use super::super::incidents::IncidentKind;
use super::super::kerong::Board;
use super::super::world::Task;
use super::SimBank;
use locker_proto::time::Instant;

/// A day, in milliseconds.
const DAY: u64 = 24 * 3_600_000;
/// What a working fridge holds.
const CHILLED: Temperature = Temperature::from_deci_celsius(40);
/// A failure the bank did not report is found on the daily round after this.
const FOUND_ON_ROUND_AFTER: Duration = Duration::from_hours(12);

impl SimBank {
    /// Whether `slot` is a refrigerated compartment.
    fn is_fridge(&self, slot: usize) -> bool {
        self.layout
            .get(slot)
            .is_some_and(|c| c.flags.contains(CompartmentFlags::REFRIGERATED))
    }

    /// The day's fridge failures, drawn from the fridges' own random
    /// stream (so that adding them changed no other incident of a seed).
    pub(super) fn plan_fridge_failures(&mut self, start: Instant) {
        let scale = self.len() as f64 / 48.0;
        let mean = self.config.rates.get(IncidentKind::FridgeFailure) * scale;
        for _ in 0..self.fridge_dice.poisson(mean) {
            let at = start + Duration::from_millis(self.fridge_dice.between(0, DAY - 1));
            self.agenda
                .at(at, Task::Incident(IncidentKind::FridgeFailure));
        }
    }

    /// Every fridge at its set point (at installation).
    pub(super) fn chill_fridges(&mut self) {
        for slot in 0..self.len() {
            if self.is_fridge(slot) {
                if let Some(c) = self.nodes.compartment_mut(slot) {
                    c.settle_temperature(CHILLED);
                }
            }
        }
    }

    /// A fridge's cooling fails: a working fridge chosen at random starts
    /// to warm. Nothing happens in a bank without fridges, or on a board
    /// that reports no temperature.
    pub(super) fn fail_a_fridge(&mut self) {
        if self.config.board == Board::KerongCu16 {
            return;
        }
        let working: Vec<usize> = (0..self.len())
            .filter(|&s| {
                self.is_fridge(s) && !self.incidents.is_open(IncidentKind::FridgeFailure, Some(s))
            })
            .collect();
        if working.is_empty() {
            return;
        }
        let pick = self.fridge_dice.between(0, working.len() as u64 - 1) as usize;
        let Some(&slot) = working.get(pick) else {
            return;
        };
        let rate = self.fridge_dice.between(10, 25) as i16;
        let Some(c) = self.compartment_mut(slot) else {
            return;
        };
        c.set_temperature_drift(rate);
        self.incidents
            .start(IncidentKind::FridgeFailure, Some(slot), self.now);
        self.fridge_failed_at.push((slot, self.now));
        self.note(
            Some(slot),
            format!(
                "fridge cooling fails: warms {:.1} °C/h",
                f64::from(rate) / 10.0
            ),
        );
    }

    /// The bank alerted about `slot`'s temperature: the technician is
    /// called (once per failure).
    pub(super) fn call_fridge_technician(&mut self, kind: AlertKind, slot: Option<usize>) {
        let Some(slot) = slot else { return };
        if kind != AlertKind::TemperatureOutOfRange
            || !self
                .incidents
                .is_open(IncidentKind::FridgeFailure, Some(slot))
            || self.fridge_repairs_called.contains(&slot)
        {
            return;
        }
        self.fridge_repairs_called.push(slot);
        let travel = Duration::from_mins(self.fridge_dice.between(120, 360));
        self.agenda.at(self.now + travel, Task::FridgeRepair(slot));
    }

    /// The technician repairs `slot`'s fridge on site: it is cold again.
    pub(super) fn repair_fridge(&mut self, slot: usize) {
        self.fridge_repairs_called.retain(|&s| s != slot);
        self.fridge_failed_at.retain(|&(s, _)| s != slot);
        if let Some(c) = self.compartment_mut(slot) {
            c.settle_temperature(CHILLED);
        }
        if self
            .incidents
            .resolve(IncidentKind::FridgeFailure, Some(slot), true)
        {
            self.world.staff_jobs += 1;
            self.note(Some(slot), "fridge repaired on site, cold again".into());
        }
    }

    /// Staff on their round find fridges warm for long that nobody was
    /// called to (the bank could not report them).
    pub(super) fn fridges_found_on_round(&mut self) {
        let now = self.now;
        let found: Vec<usize> = self
            .fridge_failed_at
            .iter()
            .filter(|&&(s, at)| {
                now.saturating_since(at) >= FOUND_ON_ROUND_AFTER
                    && !self.fridge_repairs_called.contains(&s)
            })
            .map(|&(s, _)| s)
            .collect();
        for slot in found {
            self.repair_fridge(slot);
        }
    }

    /// Whether `slot`'s real temperature is outside the bank's limits for
    /// it (the oracle's truth for a temperature alert).
    pub(super) fn really_out_of_range(&mut self, slot: Option<usize>) -> bool {
        let Some(slot) = slot else { return false };
        let Some(limits) = self
            .layout
            .get(slot)
            .and_then(|c| self.policy.cold.limits_of(c))
        else {
            return false;
        };
        let now = self.now;
        let Some(c) = self.nodes.compartment_mut(slot) else {
            return false;
        };
        c.advance_to(now);
        c.temperature().is_ok_and(|t| !limits.contains(t))
    }
}
