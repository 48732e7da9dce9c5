//! The lock: pulse supervision, the unlock window and jam detection.

use locker_proto::{Duration, Instant, LockState};

use super::action::PulseDuration;
use super::config::Tuning;

/// A pulse in progress, or awaiting its verdict.
#[derive(Clone, Copy, Debug)]
struct Pulse {
    ends_at: Instant,
    verdict_at: Instant,
    released: bool,
}

/// A change of the lock's jam fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JamChange {
    /// The lock was pulsed and never showed a release.
    Raised,
    /// A jammed lock released after all.
    Cleared,
}

/// One lock with its feedback contact.
///
/// A lock is jammed when it was pulsed and, by the end of the pulse plus the
/// grace time, its feedback never showed `Unlocked` and the door did not open
/// (an opening door proves the latch let go, whatever a sticky contact says).
/// A lock whose feedback has only ever been `Unknown` has no contact, and is
/// never declared jammed: the gateway sees the door not opening instead.
/// A lock with a contact is judged after every pulse, and a pulse that did
/// not release it raises the jam again, though it was raised before.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LockSupervisor {
    feedback: LockState,
    pulse: Option<Pulse>,
    unlocked_at: Option<Instant>,
    jammed: bool,
}

impl LockSupervisor {
    pub(crate) const fn new() -> Self {
        LockSupervisor {
            feedback: LockState::Unknown,
            pulse: None,
            unlocked_at: None,
            jammed: false,
        }
    }

    pub(crate) const fn feedback(&self) -> LockState {
        self.feedback
    }

    pub(crate) const fn is_jammed(&self) -> bool {
        self.jammed
    }

    /// Whether a pulse is still driving the lock.
    pub(crate) fn is_pulsing(&self, now: Instant) -> bool {
        self.pulse.is_some_and(|p| now < p.ends_at)
    }

    /// Records the start of a pulse; opens the unlock window.
    pub(crate) fn start_pulse(&mut self, duration: PulseDuration, now: Instant, tuning: &Tuning) {
        let ends_at = now + duration.as_duration();
        self.pulse = Some(Pulse {
            ends_at,
            verdict_at: ends_at + tuning.jam_grace,
            released: false,
        });
        self.unlocked_at = Some(now);
    }

    /// Takes a feedback reading.
    pub(crate) fn observe(&mut self, state: LockState) -> Option<JamChange> {
        self.feedback = state;
        if state != LockState::Unlocked {
            return None;
        }
        if let Some(pulse) = self.pulse.as_mut() {
            pulse.released = true;
        }
        self.clear_jam()
    }

    /// The door opened (debounced) at `at`: consumes the unlock window and
    /// says whether the opening was commanded. A commanded opening proves the
    /// lock released.
    pub(crate) fn door_opened(
        &mut self,
        at: Instant,
        window: Duration,
    ) -> (bool, Option<JamChange>) {
        let commanded = self
            .unlocked_at
            .take()
            .is_some_and(|unlocked| at >= unlocked && at.saturating_since(unlocked) <= window);
        if !commanded {
            return (false, None);
        }
        if let Some(pulse) = self.pulse.as_mut() {
            pulse.released = true;
        }
        (true, self.clear_jam())
    }

    fn clear_jam(&mut self) -> Option<JamChange> {
        core::mem::replace(&mut self.jammed, false).then_some(JamChange::Cleared)
    }

    /// Judges a finished pulse once its grace time has passed.
    pub(crate) fn verdict(&mut self, now: Instant) -> Option<JamChange> {
        let pulse = self.pulse?;
        if now < pulse.verdict_at {
            return None;
        }
        self.pulse = None;
        let has_contact = self.feedback != LockState::Unknown;
        if pulse.released || !has_contact {
            return None;
        }
        // Raised again for every pulse that did not release it, jammed or
        // not before: each unlock gets the node's word on its lock, so a
        // gateway can tell a jam from a door nobody pulled.
        self.jammed = true;
        Some(JamChange::Raised)
    }

    /// When [`verdict`](Self::verdict) is next due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pulse.map(|p| p.verdict_at)
    }
}
