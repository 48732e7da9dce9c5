//! The presence sensor: taring against the calibrated baseline, and hysteresis.

use locker_proto::Presence;

/// One presence sensor (load cell counts, IR reflectance, or a 0/1 break beam).
///
/// A reading is tared against the calibrated empty baseline. The compartment
/// turns occupied when the tared reading reaches the threshold and turns empty
/// again only when it falls to half the threshold or below, so a light item
/// (two sheets of paper on a load cell, a thin envelope in an IR beam) sitting
/// right at the threshold does not flap with sensor noise.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PresenceFilter {
    baseline: i32,
    raw: Option<i32>,
    tared: i32,
    occupied: bool,
    /// The sensor could not be read last time; the decision is the one
    /// before.
    failed: bool,
}

/// The tared reading at or below which an occupied compartment reads empty again.
pub(crate) const fn release_level(threshold: i32) -> i32 {
    threshold / 2
}

/// The node's presence rule: a compartment that `was` occupied reads
/// empty again only once its tared reading falls to half the threshold;
/// one that was empty reads occupied from the threshold up. The bank
/// applies the same rule to a reading taken against a zero it followed
/// (`Bank::seen_occupied`). Inlined: a call of its own cost the node 12
/// bytes of flash.
#[inline(always)]
pub(crate) const fn occupied_after(was: bool, tared: i32, threshold: i32) -> bool {
    if was {
        tared > release_level(threshold)
    } else {
        tared >= threshold
    }
}

impl PresenceFilter {
    pub(crate) const fn new() -> Self {
        PresenceFilter {
            baseline: 0,
            raw: None,
            tared: 0,
            occupied: false,
            failed: false,
        }
    }

    pub(crate) const fn baseline(&self) -> i32 {
        self.baseline
    }

    /// Replaces the baseline (restored calibration). The decision is redone at
    /// the next reading.
    pub(crate) fn set_baseline(&mut self, baseline: i32) {
        self.baseline = baseline;
    }

    /// Takes a raw reading; returns the new decision if it changed.
    pub(crate) fn sample(&mut self, raw: i32, threshold: i32) -> Option<Presence> {
        self.raw = Some(raw);
        self.tared = raw.saturating_sub(self.baseline);
        let occupied = occupied_after(self.occupied, self.tared, threshold);
        if occupied == self.occupied {
            return None;
        }
        self.occupied = occupied;
        Some(self.decision(threshold))
    }

    /// The sensor could not be read: the decision stays as it was. Whether
    /// this is news (the sensor had been read last time).
    pub(crate) fn fail(&mut self) -> bool {
        !core::mem::replace(&mut self.failed, true)
    }

    /// The sensor reads again: whether it had failed.
    pub(crate) fn recover(&mut self) -> bool {
        core::mem::take(&mut self.failed)
    }

    /// Whether a reading has been taken and the sensor still reads
    /// (calibration needs one: a failed sensor's last reading is stale).
    pub(crate) fn has_reading(&self) -> bool {
        self.raw.is_some() && !self.failed
    }

    /// The last reading taken, if any.
    pub(crate) const fn last_reading(&self) -> Option<i32> {
        self.raw
    }

    /// Takes `empty` (a reading of the empty compartment) as the baseline
    /// and as the last reading: the compartment reads empty. Returns the new
    /// decision if it changed (it was occupied).
    pub(crate) fn take_empty(&mut self, empty: i32, threshold: i32) -> Option<Presence> {
        self.baseline = empty;
        self.sample(empty, threshold)
    }

    /// The current decision with its evidence.
    pub(crate) const fn decision(&self, threshold: i32) -> Presence {
        Presence {
            occupied: self.occupied,
            reading: self.tared,
            threshold,
        }
    }
}
