//! The door switch: debouncing and the door-ajar timer.

use locker_proto::{DoorState, Duration, Instant};

/// A raw level that differs from the debounced state, and since when.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    open: bool,
    since: Instant,
}

/// What a debounced door did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DoorChange {
    /// The door opened; `at` is when the switch first left "closed", which is
    /// the moment compared against the unlock window.
    Opened { at: Instant },
    /// The door closed.
    Closed,
}

/// One door switch.
///
/// A level counts only once it has held for the debounce time without a
/// reversal; a bounce back to the settled level forgets the candidate, so a
/// contact chattering for longer than the debounce is still one transition.
/// A node boots believing its doors closed, so a door found open at boot is
/// reported as a (forced) opening and the gateway decides with its books.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DoorSwitch {
    state: DoorState,
    candidate: Option<Candidate>,
    opened_at: Option<Instant>,
    ajar_reported: bool,
}

impl DoorSwitch {
    pub(crate) const fn new() -> Self {
        DoorSwitch {
            state: DoorState::Closed,
            candidate: None,
            opened_at: None,
            ajar_reported: false,
        }
    }

    pub(crate) const fn state(&self) -> DoorState {
        self.state
    }

    fn is_open(&self) -> bool {
        matches!(self.state, DoorState::Open)
    }

    /// Takes a raw switch level.
    pub(crate) fn sample(
        &mut self,
        open: bool,
        now: Instant,
        debounce: Duration,
    ) -> Option<DoorChange> {
        if open == self.is_open() {
            self.candidate = None;
            return None;
        }
        match self.candidate {
            Some(c) if c.open == open => {}
            _ => self.candidate = Some(Candidate { open, since: now }),
        }
        self.settle(now, debounce)
    }

    /// Commits a candidate level that has held for `debounce`.
    pub(crate) fn settle(&mut self, now: Instant, debounce: Duration) -> Option<DoorChange> {
        let c = self.candidate?;
        if now.saturating_since(c.since) < debounce {
            return None;
        }
        self.candidate = None;
        if c.open {
            self.state = DoorState::Open;
            self.opened_at = Some(c.since);
            self.ajar_reported = false;
            Some(DoorChange::Opened { at: c.since })
        } else {
            self.state = DoorState::Closed;
            self.opened_at = None;
            Some(DoorChange::Closed)
        }
    }

    /// Whether the door has now been open for `limit` (true once per opening).
    pub(crate) fn ajar_due(&mut self, now: Instant, limit: Duration) -> bool {
        match self.opened_at {
            Some(at) if !self.ajar_reported && now.saturating_since(at) >= limit => {
                self.ajar_reported = true;
                true
            }
            _ => false,
        }
    }

    /// The next instant at which [`settle`](Self::settle) or
    /// [`ajar_due`](Self::ajar_due) can change something.
    pub(crate) fn deadline(&self, debounce: Duration, ajar_limit: Duration) -> Option<Instant> {
        let settle = self.candidate.map(|c| c.since + debounce);
        let ajar = self
            .opened_at
            .filter(|_| !self.ajar_reported)
            .map(|at| at + ajar_limit);
        earliest(settle, ajar)
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
