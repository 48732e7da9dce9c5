//! The invariants of ARCHITECTURE.md, checked against ground truth.
//!
//! The simulated world knows where every parcel physically is; the bank
//! only knows its books and the alerts it raised. The checker holds the two
//! against each other:
//!
//! 1. A compartment holds at most one parcel and a parcel is in at most one
//!    compartment: in the books (no parcel number twice) and physically.
//! 2. Every deposited parcel is in the compartment the books say, or was
//!    verified leaving it, or its compartment is in an alert raised after
//!    the parcel went in. A parcel taken out was handed to the holder of
//!    its code (the bank accepted the code for it), or verified leaving by
//!    an audited override, or alerted within [`GRACE`]. The books may lag
//!    the world by [`GRACE`] (events crossing a noisy bus).
//! 3. A door opens only for a command the bank audited: no lock is pulsed
//!    more often than the audit trail recorded unlock commands for it (a
//!    retransmitted unlock never pulses twice), and every forced opening is
//!    alerted within [`GRACE`].
//! 4. Nothing panics, and the bank never refuses an input for a reason that
//!    means the glue is wrong (time going backwards, unknown wiring).
//! 5. A restart at any instant (long outages shut everything down and
//!    restore it) loses no parcel: 2 keeps holding across it.

use std::collections::{HashMap, HashSet};

use locker_proto::time::{Duration, Instant};

use locker_domain::bank::CompartmentView;

use super::locker::SimBank;
use super::world::Whereabouts;

/// How long a physical change may take to reach the books or an alert
/// (bus retries, a node lost and power-cycled, a status scan).
pub const GRACE: Duration = Duration::from_mins(30);

/// Checks invariants after every step and keeps the first violations.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    /// Steps checked.
    pub steps: u64,
    /// Violations found.
    pub violations: u64,
    /// The first violations, described.
    pub first: Vec<String>,
    /// Since when each (bank, compartment) has held a parcel its books do
    /// not show: the node's events take a moment to reach the gateway.
    mismatch_since: HashMap<(usize, usize), Instant>,
    seen: HashSet<(usize, String)>,
}

impl Checker {
    /// Checks `sim` now.
    pub fn check(&mut self, sim: &SimBank) {
        self.steps += 1;
        let now = sim.now;
        let books = books(sim);
        for problem in problems_in(sim, &books, now) {
            let late = match problem {
                Problem::BooksBehind(slot) => {
                    let since = *self.mismatch_since.entry((sim.index, slot)).or_insert(now);
                    now.saturating_since(since) > GRACE
                }
                Problem::Broken(_) => true,
            };
            if !late {
                continue;
            }
            let problem = problem.describe(&books);
            // A problem counts once, however many steps it lasts.
            if !self.seen.insert((sim.index, problem.clone())) {
                continue;
            }
            self.violations += 1;
            if self.first.len() < 10 {
                self.first
                    .push(format!("bank {} at {}: {problem}", sim.index + 1, sim.now));
            }
        }
        self.mismatch_since
            .retain(|(bank, slot), _| *bank != sim.index || books_behind(sim, &books, *slot));
    }
}

/// One thing wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A compartment holds a parcel its books do not show and no alert
    /// names it (yet: events are on their way, or not).
    BooksBehind(usize),
    /// Anything else, described.
    Broken(String),
}

impl Problem {
    fn describe(self, books: &[CompartmentView]) -> String {
        match self {
            Problem::Broken(s) => s,
            Problem::BooksBehind(slot) => {
                let view = books.get(slot);
                format!(
                    "C{} has held a parcel for over {} that its books do not show ({:?}) and no alert was raised",
                    slot + 1,
                    GRACE,
                    view.map(|v| (v.stage, v.parcel))
                )
            }
        }
    }
}

/// The bank's books, one view per compartment in layout order (empty while
/// the gateway is off): taken once per step, not once per compartment.
fn books(sim: &SimBank) -> Vec<CompartmentView> {
    sim.bank().map_or_else(Vec::new, |b| b.views().collect())
}

fn books_behind(sim: &SimBank, books: &[CompartmentView], slot: usize) -> bool {
    let Some(view) = books.get(slot) else {
        return false;
    };
    let Some(p) = sim.inside.get(slot).copied().flatten() else {
        return false;
    };
    let parcel = sim.parcels.get(p);
    let placed = parcel.and_then(|x| x.placed_at);
    let books_agree = parcel.is_some_and(|x| x.bank_id.is_some() && view.parcel == x.bank_id);
    !books_agree && !alerted_since(sim, slot, placed)
}

fn alerted_since(sim: &SimBank, slot: usize, since: Option<Instant>) -> bool {
    let at = sim.alerted_at.get(slot).copied().flatten();
    match (at, since) {
        (Some(at), Some(since)) => at >= since,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Everything wrong with `sim` at `now`.
pub fn problems(sim: &SimBank, now: Instant) -> Vec<Problem> {
    problems_in(sim, &books(sim), now)
}

fn problems_in(sim: &SimBank, books: &[CompartmentView], now: Instant) -> Vec<Problem> {
    let mut out: Vec<Problem> = broken(sim, books, now)
        .into_iter()
        .map(Problem::Broken)
        .collect();
    if sim.bank().is_some() {
        for slot in 0..sim.inside.len() {
            if books_behind(sim, books, slot) {
                out.push(Problem::BooksBehind(slot));
            }
        }
    }
    out
}

fn broken(sim: &SimBank, books: &[CompartmentView], now: Instant) -> Vec<String> {
    let mut out = Vec::new();
    // Refusals that mean the glue broke a contract.
    for bad in ["TimeWentBackwards", "UnknownChannel", "UnknownNode"] {
        if sim.refusals.get(bad).copied().unwrap_or(0) > 0 {
            out.push(format!("the bank refused an input: {bad}"));
        }
    }
    if sim.bank().is_none() {
        // Off on a critical battery: the persisted books stand for it.
        return out;
    }
    let mut ids: Vec<u32> = books.iter().filter_map(|v| v.parcel.map(|p| p.0)).collect();
    let held = ids.len();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != held {
        out.push("a parcel number appears in two compartments".into());
    }
    for slot in 0..books.len() {
        if let Some(p) = sim.inside.get(slot).copied().flatten() {
            if sim
                .parcels
                .get(p)
                .is_some_and(|x| x.at != Whereabouts::InCompartment(slot))
            {
                out.push(format!("parcel {p} is in C{} and elsewhere", slot + 1));
            }
        }
        if let Some(c) = sim.compartment(slot) {
            let audited = sim.unlocks_audited.get(slot).copied().unwrap_or(0);
            if u64::from(c.unlock_pulses()) > audited {
                out.push(format!(
                    "C{}'s lock was pulsed {} times for {audited} audited unlock commands",
                    slot + 1,
                    c.unlock_pulses()
                ));
            }
        }
    }
    for &(p, slot, at) in &sim.leaving {
        let handed = sim.parcels.get(p).is_some_and(|x| x.code_accepted);
        if now.saturating_since(at) > GRACE && !handed && !alerted_since(sim, slot, Some(at)) {
            out.push(format!(
                "parcel {p} left C{} at {at} and the bank neither verified it, nor accepted its code, nor raised an alert",
                slot + 1,
            ));
        }
    }
    for &(slot, at) in &sim.forced_pending {
        if now.saturating_since(at) > GRACE {
            out.push(format!(
                "C{}'s door was forced and no alert was raised",
                slot + 1
            ));
        }
    }
    out
}

/// Deposited parcels that are unaccounted for: physically somewhere the
/// books do not say, not verified out, and in no alert. Computed from
/// ground truth at the end of a run; must be 0.
pub fn parcels_lost(sim: &SimBank) -> u64 {
    let mut lost = 0;
    for (p, x) in sim.parcels.iter().enumerate() {
        let accounted = match x.at {
            Whereabouts::WithDepositor | Whereabouts::AtCounter(_) => true,
            Whereabouts::InCompartment(slot) => {
                let books = sim
                    .bank()
                    .and_then(|b| b.views().nth(slot))
                    .is_some_and(|v| x.bank_id.is_some() && v.parcel == x.bank_id);
                books || sim.bank().is_none() || alerted_since(sim, slot, x.placed_at)
            }
            // Staff only ever take out what an audited staff override opened.
            Whereabouts::WithStaff => true,
            Whereabouts::WithCollector => {
                x.verified_out
                    || x.code_accepted
                    || sim.leaving.iter().any(|&(q, slot, at)| {
                        q == p
                            && (sim.now.saturating_since(at) <= GRACE
                                || alerted_since(sim, slot, Some(at)))
                    })
            }
            Whereabouts::Stolen => x.slot.is_some_and(|slot| {
                alerted_since(sim, slot, x.placed_at)
                    || sim.forced_pending.iter().any(|(s, _)| *s == slot)
            }),
        };
        if !accounted {
            lost += 1;
        }
    }
    lost
}
