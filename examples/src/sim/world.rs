//! The physical world around a bank: where every parcel really is, and the
//! agenda of what people (couriers, residents, staff, vandals) do next.

use std::collections::BTreeMap;

use locker_domain::bank::{ParcelId, ParcelKind, ParcelNeeds};
use locker_proto::time::{Duration, Instant};

use super::incidents::IncidentKind;

/// Where a parcel physically is: the ground truth the bank's books are
/// checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whereabouts {
    /// With the depositor (a courier, or a resident returning something),
    /// not yet in a compartment.
    WithDepositor,
    /// Inside compartment `slot` (layout order).
    InCompartment(usize),
    /// Taken out by the person it was for.
    WithCollector,
    /// Taken out by staff (expired and sent back, or found).
    WithStaff,
    /// Never entered the bank: taken to the service counter.
    AtCounter(CounterReason),
    /// Taken by someone not entitled to it.
    Stolen,
}

/// Why a parcel went to the counter instead of a compartment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CounterReason {
    /// Bigger than every compartment.
    Oversize,
    /// No fitting compartment free (or no refrigerated / accessible one).
    BankFull,
    /// The bank was off (long power outage) or refused deposits on battery.
    BankUnavailable,
    /// Every compartment tried would not open.
    DoorWouldNotOpen,
}

impl CounterReason {
    /// A stable snake_case name, for the summary and its JSON keys.
    pub const fn name(self) -> &'static str {
        match self {
            CounterReason::Oversize => "oversize",
            CounterReason::BankFull => "bank_full",
            CounterReason::BankUnavailable => "bank_unavailable",
            CounterReason::DoorWouldNotOpen => "door_would_not_open",
        }
    }
}

/// One parcel's life in the simulated world.
#[derive(Clone, Debug)]
pub struct WorldParcel {
    /// A delivery for a resident, or a return for a courier to collect.
    pub kind: ParcelKind,
    /// What it needs from a compartment.
    pub needs: ParcelNeeds,
    /// Its weight.
    pub grams: u32,
    /// Where it is.
    pub at: Whereabouts,
    /// The bank's number for it, once reserved.
    pub bank_id: Option<ParcelId>,
    /// The compartment reserved or holding it.
    pub slot: Option<usize>,
    /// The pickup code, once the collector received it.
    pub code: Option<String>,
    /// When the depositor arrived.
    pub arrived: Instant,
    /// When it was put into a compartment.
    pub placed_at: Option<Instant>,
    /// How long the collector waits after getting the code.
    pub pickup_delay: Duration,
    /// The courier shuts the door without putting it in (first attempt).
    pub forgetful: bool,
    /// The collector leaves the door open after taking it out.
    pub leaves_ajar: bool,
    /// The collector mistypes the code once first.
    pub mistypes: bool,
    /// Deposit attempts so far.
    pub attempts: u8,
    /// The bank verified it leaving the compartment (audit `PickupVerified`).
    pub verified_out: bool,
    /// The bank accepted the collector's code for it (audit `CodeAccepted`).
    pub code_accepted: bool,
    /// Staff had to step in for this parcel.
    pub needed_staff: bool,
    /// A reminder arrived and has not yet hurried the collector.
    pub reminded: bool,
}

/// Who stands at a door.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visitor {
    /// Putting parcel `.0` in (a courier, or a resident with a return).
    Depositor(usize),
    /// Taking parcel `.0` out.
    Collector(usize),
    /// Staff servicing the compartment; `take` removes whatever is inside.
    Staff {
        /// Whether staff empty the compartment.
        take: bool,
    },
    /// Someone else at the bank, asked on its screen to shut a door left
    /// standing open ([`Bank::doors_left_open`](locker_domain::bank::Bank::doors_left_open)).
    Passerby,
}

/// A code guesser at the keypad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guesser {
    /// Guesses he will still make.
    pub left: u32,
    /// Codes he typed that the keypad took.
    pub typed: u32,
    /// Whether he is an incident of his own: a guesser who comes back
    /// while the keypad still counts the last attack is that attack going
    /// on (one alert covers it), and the incident starts with his first
    /// code, not his arrival.
    pub own: bool,
}

/// Something that happens at an instant.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Midnight: plan the day's traffic and incidents.
    DayStart(u32),
    /// The depositor of parcel `.0` arrives at the bank.
    Arrive(usize),
    /// The collector of parcel `.0` arrives with the code.
    Collect(usize),
    /// A visitor pulls the door of `slot`.
    TryOpen {
        /// The compartment.
        slot: usize,
        /// Who.
        visitor: Visitor,
        /// Pulls so far.
        tries: u8,
    },
    /// A visitor shuts the door of `slot`.
    Close {
        /// The compartment.
        slot: usize,
        /// Who.
        visitor: Visitor,
    },
    /// The node firmware samples its sensors (a lock's release window ends).
    Sample(usize),
    /// An incident starts.
    Incident(IncidentKind),
    /// Mains power comes back.
    MainsBack,
    /// A vandal shuts a door they forced.
    VandalCloses(usize),
    /// Someone keeps typing guessed codes.
    Guess(Guesser),
    /// Staff visit the bank.
    StaffVisit,
    /// Staff who opened a door for an expired parcel's removal look inside
    /// after the bank said it could not verify the removal.
    LookInside(usize),
    /// Staff put a compartment back in service after dealing with it.
    StaffDone(usize),
    /// A refrigeration technician repairs the fridge of `slot`.
    FridgeRepair(usize),
    /// The drifting load cell of `slot` stops drifting: its zero shifted
    /// and settled (see `Locker::incident`); the shift stays until re-tared.
    DriftSettles(usize),
}

/// Tasks in time order; ties in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Agenda {
    tasks: BTreeMap<(Instant, u64), Task>,
    next: u64,
}

impl Agenda {
    /// Adds `task` at `at`.
    pub fn at(&mut self, at: Instant, task: Task) {
        self.tasks.insert((at, self.next), task);
        self.next += 1;
    }

    /// When the next task is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.tasks.keys().next().map(|(at, _)| *at)
    }

    /// The next task due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Task> {
        let (at, _) = *self.tasks.keys().next()?;
        if at > now {
            return None;
        }
        self.tasks.pop_first().map(|(_, t)| t)
    }
}
