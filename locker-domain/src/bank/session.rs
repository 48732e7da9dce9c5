//! The door session: one compartment's door, from the unlock to the verdict.
//!
//! A session starts when the bank unlocks a door for a [`Purpose`] and runs
//! through the three [`DoorPhase`]s: unlocking (waiting for the door to open,
//! with one retry), open (waiting for it to close, the ajar limit running)
//! and verifying (closed, waiting for the presence sensor to settle). It ends
//! with a [`Verdict`]: the parcel changed hands, or it did not and the
//! compartment goes back to the stage it came from, or staff must look.
//!
//! The machine is pure. Each input (a door or presence report, a fault, a
//! refused unlock, the door timer, a status scan) takes the compartment's
//! books, the time and the [`Policy`], and returns a [`Step`]: the books
//! after the input (stage, timers, door, presence, service) and what
//! [`Happened`], in locker terms. It sees no queue and no other
//! compartment; the bank (`doors.rs`) turns a step into audit records,
//! notifications, alerts, camera snapshots and the unlock command, and
//! writes the books back (which moves the compartment in the timer heap,
//! the free lists and the code index).
//! The tests below run whole sessions without a bank.
//!
//! The door's sensors do not know whether a session is running, so inputs
//! outside one are answered here too: a door that opens with no session is
//! forced, a presence change with the door shut is checked against the books.
//!
//! Sensor health is not the session's business: the bank feeds door changes,
//! presence readings and lock faults to it around each step.

use locker_proto::time::{Duration, Instant};
use locker_proto::{DoorState, FaultCode, Presence};

use super::audit::{Actor, ServiceReason};
use super::deadlines::notice_due;
use super::parcel::{DoorPhase, Purpose, Stage};
use super::policy::Policy;
use super::slot::Slot;

/// What one input did to a compartment.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub(super) struct Step {
    /// The compartment's books after the input. Unchanged when nothing
    /// [`Happened`].
    pub(super) books: Slot,
    /// What to report.
    pub(super) happened: Happened,
}

/// What happened at a door, for the bank to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Happened {
    /// Nothing: a repeated report, or nothing to act on. The books are not
    /// written.
    Nothing,
    /// The books changed with nothing to report (a reading noted, a spent
    /// timer cleared).
    Noted,
    /// A door session's door has been open for the policy's limit as far as
    /// the books know: the bank asks the node for the compartment's status
    /// before it calls the door ajar (a close the bus lost, a node that
    /// stopped answering, is not a door left open).
    AskIfStillOpen,
    /// An unlock goes to the node: the first of a new session, asked for
    /// `by` its opener, or the retry after an unconfirmed first (`by` the
    /// system).
    UnlockSent {
        /// Why the door is opened.
        purpose: Purpose,
        /// 0 for the first unlock, 1 for the retry.
        attempt: u8,
        /// Who the audit names.
        by: Actor,
    },
    /// The door opened, by a command, after the bank had given the session
    /// up (as a lock fault, or unanswered): the unlock was carried out late
    /// (its answer lost). The session resumes as if the door had opened in
    /// time, and the compartment is back in service.
    LateOpening {
        /// Who opens it.
        by: Actor,
        /// The session had been given up as a lock fault, the compartment
        /// out of service until now.
        was_lock_fault: bool,
    },
    /// The door opened for the session.
    DoorOpened {
        /// The session's opener.
        by: Actor,
    },
    /// The door opened with no session expecting it: forced. The
    /// compartment is out of service.
    DoorForced,
    /// The door closed: `by` the session's opener, or the system outside a
    /// session. A presence reading that settles the session at once gives
    /// the verdict with it.
    DoorClosed {
        /// The session's opener, or [`Actor::System`].
        by: Actor,
        /// The session's end, when the door's closing settled it.
        verdict: Option<Verdict>,
    },
    /// The session ended after the door closed: the presence sensor spoke,
    /// or had its time.
    Finished {
        /// The session's opener.
        by: Actor,
        /// How it ended.
        verdict: Verdict,
    },
    /// The door stayed open past the limit (or its node said so).
    DoorAjar {
        /// Who to ask to close it: the session's opener, or staff.
        tell: Actor,
    },
    /// The door never opened after the unlock and its retry, though the
    /// node heard them: the compartment is back where the session found
    /// it, out of service.
    LockFault {
        /// The session's opener, to be told.
        by: Actor,
        /// Unlocks sent.
        attempts: u8,
    },
    /// The door never opened, and the node never confirmed an unlock (or
    /// stopped answering): the bus or the node, not the lock. The
    /// compartment is back where the session found it, in service; the
    /// opener is told the door would not open.
    Unanswered {
        /// The session's opener, to be told.
        by: Actor,
        /// Unlocks sent.
        attempts: u8,
    },
    /// The lock reported trouble outside an unlock: evidence for sensor
    /// health, nothing for the session.
    LockTrouble(FaultCode),
    /// Another fault on the channel: for maintenance.
    Fault(FaultCode),
    /// With no session and the door shut, the presence sensor contradicts
    /// the books: the compartment is out of service.
    SensorDisagrees(Presence),
    /// After a forced door, the sensor reads empty where the books hold a
    /// parcel: it was taken.
    ParcelTaken(Presence),
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The parcel is in: it waits for `collector`, its reminders counting
    /// from now.
    DepositVerified {
        /// Who collects it, and gets the code.
        collector: Actor,
    },
    /// The door closed on an empty compartment: reserved again, the
    /// deposit window running.
    NoParcelDetected,
    /// The parcel is out and the compartment free.
    PickupVerified {
        /// A pickup or a removal.
        purpose: Purpose,
        /// How long a picked-up parcel waited (`None` for a removal).
        dwell: Option<Duration>,
    },
    /// The door closed with the parcel inside: stored again, its code
    /// still good.
    ParcelLeftInside {
        /// Who to tell.
        collector: Actor,
    },
    /// An expired parcel is still inside after its removal: out of service.
    RemovalNotVerified,
    /// An inspection found an item the books do not know: out of service.
    UnexpectedItem,
    /// An inspection ended with nothing to report.
    Inspected,
}

impl Step {
    fn nothing(books: Slot) -> Self {
        Step {
            books,
            happened: Happened::Nothing,
        }
    }

    fn noted(books: Slot) -> Self {
        Step {
            books,
            happened: Happened::Noted,
        }
    }
}

/// Starts a session: the first unlock goes out, the confirmation timer
/// runs, the parcel's own deadlines wait.
pub(super) fn open(
    mut s: Slot,
    purpose: Purpose,
    by: Actor,
    now: Instant,
    policy: &Policy,
) -> Step {
    s.stage = Stage::Door {
        purpose,
        phase: DoorPhase::Unlocking { attempt: 0 },
        by,
    };
    s.door_timer = Some(now + policy.unlock_confirm);
    s.parcel_timer = None;
    Step {
        books: s,
        happened: Happened::UnlockSent {
            purpose,
            attempt: 0,
            by,
        },
    }
}

/// The door switch reports the door open; `commanded` is the node's word
/// that it opened after an unlock pulse, vouched for by the bank (it gave
/// this compartment's session up moments ago, see
/// [`LATE_OPENING_WINDOW`](super::LATE_OPENING_WINDOW)).
pub(super) fn door_opened(mut s: Slot, commanded: bool, now: Instant, policy: &Policy) -> Step {
    if s.door == DoorState::Open {
        // A status scan found this door open outside any session before the
        // node's report of the opening was polled (the scan's answer came
        // first): the discrepancy is on record, and an opening the node did
        // not command is a forced door, whichever arrived first.
        let scan_saw_it_first = !commanded
            && s.out_of_service == Some(ServiceReason::SensorDisagrees)
            && !matches!(s.stage, Stage::Door { .. });
        if scan_saw_it_first {
            s.out_of_service = Some(ServiceReason::ForcedDoor);
            return Step {
                books: s,
                happened: Happened::DoorForced,
            };
        }
        return Step::nothing(s);
    }
    s.door = DoorState::Open;
    match s.stage {
        Stage::Door {
            purpose,
            phase: DoorPhase::Unlocking { .. } | DoorPhase::Verifying,
            by,
        } => {
            // Our unlock (or a reopening before the sensor settled): the
            // node's own `commanded` flag may be lost across a node
            // restart, the books are the authority.
            s.stage = Stage::Door {
                purpose,
                phase: DoorPhase::Open,
                by,
            };
            s.door_timer = Some(now + policy.door_ajar_limit);
            s.ajar_reported = false;
            Step {
                books: s,
                happened: Happened::DoorOpened { by },
            }
        }
        // The bank gave the session up (a lock fault, or an unlock the node
        // never confirmed), but the node says its pulse opened the door:
        // the unlock was carried out late (its answer lost). That session's
        // opening, never a forced door. Only the bank's signed unlock makes
        // the node pulse, so a commanded opening is never a break-in.
        stage
            if commanded
                && matches!(
                    s.out_of_service,
                    None | Some(ServiceReason::LockFault | ServiceReason::SensorFailed)
                ) =>
        {
            let Some(purpose) = super::remote::override_purpose(stage) else {
                return Step::nothing(s);
            };
            let by = match purpose {
                Purpose::Deposit => s.parcel.map_or(Actor::Courier, |p| p.kind.depositor()),
                Purpose::Pickup => s.parcel.map_or(Actor::Recipient, |p| p.kind.collector()),
                Purpose::Removal | Purpose::Inspection => Actor::Staff,
            };
            s.stage = Stage::Door {
                purpose,
                phase: DoorPhase::Open,
                by,
            };
            // The lock released after all; a failed sensor stays failed.
            let was_lock_fault = s.out_of_service == Some(ServiceReason::LockFault);
            if was_lock_fault {
                s.out_of_service = None;
            }
            s.door_timer = Some(now + policy.door_ajar_limit);
            s.parcel_timer = None;
            s.ajar_reported = false;
            Step {
                books: s,
                happened: Happened::LateOpening { by, was_lock_fault },
            }
        }
        _ => {
            s.out_of_service = Some(ServiceReason::ForcedDoor);
            Step {
                books: s,
                happened: Happened::DoorForced,
            }
        }
    }
}

/// The door switch reports the door closed.
pub(super) fn door_closed(mut s: Slot, now: Instant, policy: &Policy) -> Step {
    if s.door == DoorState::Closed {
        return Step::nothing(s);
    }
    let before = s;
    s.door = DoorState::Closed;
    s.ajar_reported = false;
    match s.stage {
        Stage::Door {
            purpose,
            phase: DoorPhase::Open | DoorPhase::Unlocking { .. },
            by,
        } => {
            s.stage = Stage::Door {
                purpose,
                phase: DoorPhase::Verifying,
                by,
            };
            s.door_timer = Some(now + policy.presence_settle);
            if !decisive(purpose, s.occupied) {
                return Step {
                    books: s,
                    happened: Happened::DoorClosed { by, verdict: None },
                };
            }
            match finish(s, purpose, by, now, policy) {
                Some((books, verdict)) => Step {
                    books,
                    happened: Happened::DoorClosed {
                        by,
                        verdict: Some(verdict),
                    },
                },
                None => Step::nothing(before),
            }
        }
        _ => Step {
            books: s,
            happened: Happened::DoorClosed {
                by: Actor::System,
                verdict: None,
            },
        },
    }
}

/// The presence sensor's decision, as the node reported it.
pub(super) fn presence_changed(
    mut s: Slot,
    presence: Presence,
    now: Instant,
    policy: &Policy,
) -> Step {
    if s.occupied == Some(presence.occupied) {
        return Step::nothing(s);
    }
    let before = s;
    s.occupied = Some(presence.occupied);
    match s.stage {
        Stage::Door {
            purpose,
            phase: DoorPhase::Verifying,
            by,
        } if decisive(purpose, s.occupied) => match finish(s, purpose, by, now, policy) {
            Some((books, verdict)) => Step {
                books,
                happened: Happened::Finished { by, verdict },
            },
            None => Step::nothing(before),
        },
        // Mid-session the reading waits for the door to close; behind a door
        // open outside a session it is only noted.
        Stage::Door { .. } => Step::noted(s),
        _ if taken_after_force(&s, presence) => Step {
            books: s,
            happened: Happened::ParcelTaken(presence),
        },
        _ if s.door == DoorState::Open => Step::noted(s),
        stage => {
            let disagrees = stage.holds_parcel() != presence.occupied;
            if disagrees && s.out_of_service.is_none() {
                s.out_of_service = Some(ServiceReason::SensorDisagrees);
                Step {
                    books: s,
                    happened: Happened::SensorDisagrees(presence),
                }
            } else {
                Step::noted(s)
            }
        }
    }
}

/// Whether `presence` shows the parcel gone from a compartment whose door
/// was forced: the books hold a parcel, the sensor now reads empty.
fn taken_after_force(s: &Slot, presence: Presence) -> bool {
    s.out_of_service == Some(ServiceReason::ForcedDoor)
        && s.stage.holds_parcel()
        && !presence.occupied
}

/// A fault the node reported on the compartment's channel. A jammed lock or
/// a door that did not open during an unlock is the unlock failing.
pub(super) fn fault(s: Slot, fault: FaultCode, now: Instant, policy: &Policy) -> Step {
    let lock_trouble = matches!(fault, FaultCode::LockJammed | FaultCode::DoorDidNotOpen);
    match s.stage {
        Stage::Door {
            phase: DoorPhase::Unlocking { .. },
            ..
        } if lock_trouble => {
            // The node's own word on its lock: it heard the unlock.
            unlock_failed(s, now, policy, true)
        }
        _ if lock_trouble => Step {
            books: s,
            happened: Happened::LockTrouble(fault),
        },
        _ => Step {
            books: s,
            happened: Happened::Fault(fault),
        },
    }
}

/// The node says the door has been open too long. Reported once per
/// opening; ends the session's own ajar timer. A forced door left open is
/// not reported again: its security alert already sent staff.
pub(super) fn door_ajar(mut s: Slot) -> Step {
    if s.ajar_reported || s.door != DoorState::Open {
        return Step::nothing(s);
    }
    s.ajar_reported = true;
    let forced = s.out_of_service == Some(ServiceReason::ForcedDoor);
    if forced && !matches!(s.stage, Stage::Door { .. }) {
        return Step::noted(s);
    }
    if in_open_door_session(&s) {
        s.door_timer = None;
    }
    let tell = match s.stage {
        Stage::Door { by, .. } => by,
        _ => Actor::Staff,
    };
    Step {
        books: s,
        happened: Happened::DoorAjar { tell },
    }
}

/// The node says the door has been open too long (its own limit, which the
/// bank sets to [`Policy::door_ajar_limit`] only where it configures its
/// nodes). During a door session the bank's own timer, at the policy's
/// limit, is the one limit: a node's word before it is noted and the timer
/// left to run, so a node on its default limit (60 s) does not call a
/// courier slow the policy gives two minutes. Otherwise as
/// [`door_ajar`].
pub(super) fn node_says_ajar(s: Slot, now: Instant) -> Step {
    let own_timer_runs = in_open_door_session(&s)
        && s.door_timer
            .is_some_and(|due| due.saturating_since(now) > AJAR_AGREES_WITHIN);
    if own_timer_runs {
        return Step::noted(s);
    }
    door_ajar(s)
}

/// A node's word that a door is ajar this close to the bank's own limit is
/// the same limit, seen from the node's clock: the alert goes at once.
pub(super) const AJAR_AGREES_WITHIN: Duration = Duration::from_secs(10);

/// Whether the bank asked if this door session's door is still open and
/// waits for the answer (its time was up, no alert yet).
pub(super) fn asked_if_still_open(s: &Slot) -> bool {
    in_open_door_session(s) && s.door_timer.is_none() && !s.ajar_reported
}

/// Whether a door session's door is open (as the books know it).
fn in_open_door_session(s: &Slot) -> bool {
    matches!(
        s.stage,
        Stage::Door {
            phase: DoorPhase::Open,
            ..
        }
    )
}

/// The door did not open after an unlock (no confirmation in time, the node
/// refused or never answered, the lock jammed): retry once, then a lock
/// fault. Outside the unlocking phase, nothing.
///
/// The lock is blamed (`lock_to_blame`) only on evidence: the node
/// acknowledged an unlock of this session, refused it, or reported the lock
/// in trouble, and it still answers. An unlock the node never confirmed,
/// or a node that stopped answering, says nothing about the lock: the
/// session ends [`Happened::Unanswered`], the compartment in service (a
/// late opening by the node's pulse still resumes it, see
/// [`door_opened`]).
pub(super) fn unlock_failed(
    mut s: Slot,
    now: Instant,
    policy: &Policy,
    lock_to_blame: bool,
) -> Step {
    let Stage::Door {
        purpose,
        phase: DoorPhase::Unlocking { attempt },
        by,
    } = s.stage
    else {
        return Step::nothing(s);
    };
    if attempt == 0 {
        s.stage = Stage::Door {
            purpose,
            phase: DoorPhase::Unlocking { attempt: 1 },
            by,
        };
        s.door_timer = Some(now + policy.unlock_confirm);
        return Step {
            books: s,
            happened: Happened::UnlockSent {
                purpose,
                attempt: 1,
                by: Actor::System,
            },
        };
    }
    let attempts = attempt.saturating_add(1);
    settle_back(&mut s, purpose, now, policy);
    if !lock_to_blame {
        return Step {
            books: s,
            happened: Happened::Unanswered { by, attempts },
        };
    }
    s.out_of_service = Some(ServiceReason::LockFault);
    Step {
        books: s,
        happened: Happened::LockFault { by, attempts },
    }
}

/// A presence report noted without a verdict: the reading goes into the
/// books (a session that resumes is judged on it), nothing else.
pub(super) fn presence_noted(mut s: Slot, presence: Presence) -> Step {
    if s.occupied == Some(presence.occupied) {
        return Step::nothing(s);
    }
    s.occupied = Some(presence.occupied);
    Step::noted(s)
}

/// The unlock could not be sent at all (its node is lost): the session ends
/// at once, [`Happened::Unanswered`], the compartment in service. No retry
/// waits for the node: whoever stood at the door is told it would not open,
/// and no pulse comes later for nobody. Outside the unlocking phase,
/// nothing.
pub(super) fn unlock_not_sent(mut s: Slot, now: Instant, policy: &Policy) -> Step {
    let Stage::Door {
        purpose,
        phase: DoorPhase::Unlocking { attempt },
        by,
    } = s.stage
    else {
        return Step::nothing(s);
    };
    settle_back(&mut s, purpose, now, policy);
    Step {
        books: s,
        happened: Happened::Unanswered {
            by,
            attempts: attempt.saturating_add(1),
        },
    }
}

/// The door timer ran out: the unlock went unconfirmed, the presence sensor
/// had its time, or the door stayed open past the limit. A timer that
/// cannot move the session on is cleared, so it does not fire again at once.
/// `lock_to_blame`: whether a door that did not open is the lock's fault
/// (see [`unlock_failed`]).
///
/// An unlock sent before the bank stopped (`from_before_restart`: a power
/// cut, a crash) or whose confirmation time ran out long before `now` (more
/// than another confirmation time ago) finds nobody at the door any more:
/// the session ends without a retry, not blamed on the lock, as
/// [`unlock_not_sent`] ends it.
pub(super) fn door_timer(
    s: Slot,
    now: Instant,
    policy: &Policy,
    lock_to_blame: bool,
    from_before_restart: bool,
) -> Step {
    let mut step = match s.stage {
        Stage::Door {
            phase: DoorPhase::Unlocking { .. },
            ..
        } => {
            let overdue = s
                .door_timer
                .is_some_and(|due| now.saturating_since(due) > policy.unlock_confirm);
            if overdue || from_before_restart {
                unlock_not_sent(s, now, policy)
            } else {
                unlock_failed(s, now, policy, lock_to_blame)
            }
        }
        Stage::Door {
            purpose,
            phase: DoorPhase::Verifying,
            by,
        } => match finish(s, purpose, by, now, policy) {
            Some((books, verdict)) => Step {
                books,
                happened: Happened::Finished { by, verdict },
            },
            None => Step::nothing(s),
        },
        Stage::Door {
            phase: DoorPhase::Open,
            ..
        } if !s.ajar_reported => {
            let mut books = s;
            books.door_timer = None;
            Step {
                books,
                happened: Happened::AskIfStillOpen,
            }
        }
        _ => {
            let mut books = s;
            books.door_timer = None;
            Step::noted(books)
        }
    };
    if step.books.door_timer.is_some_and(|t| t <= now) {
        step.books.door_timer = None;
        if step.happened == Happened::Nothing {
            step.happened = Happened::Noted;
        }
    }
    step
}

/// A status scan saw the door `door` and the compartment `occupied` during
/// a session (after a restore, a node restart or a node coming back): the
/// scan is the truth. A door found closed finishes the session with the
/// scanned presence, as the door-closed event would have, so a restart in
/// the middle of a deposit or a pickup loses nothing.
pub(super) fn scanned(
    mut s: Slot,
    door: DoorState,
    occupied: bool,
    now: Instant,
    policy: &Policy,
) -> Step {
    let before = s;
    let door_was = s.door;
    s.door = door;
    s.occupied = Some(occupied);
    let Stage::Door { purpose, phase, by } = s.stage else {
        return Step::noted(s);
    };
    match (door, phase) {
        (DoorState::Open, DoorPhase::Unlocking { .. } | DoorPhase::Verifying) => {
            s.stage = Stage::Door {
                purpose,
                phase: DoorPhase::Open,
                by,
            };
            s.door_timer = Some(now + policy.door_ajar_limit);
            Step {
                books: s,
                happened: Happened::DoorOpened { by },
            }
        }
        (DoorState::Closed, DoorPhase::Open | DoorPhase::Verifying) => {
            match finish(s, purpose, by, now, policy) {
                Some((books, verdict)) if door_was == DoorState::Open => Step {
                    books,
                    happened: Happened::DoorClosed {
                        by,
                        verdict: Some(verdict),
                    },
                },
                Some((books, verdict)) => Step {
                    books,
                    happened: Happened::Finished { by, verdict },
                },
                None => Step::nothing(before),
            }
        }
        // Still open once its time was up (the bank asked): ajar.
        (DoorState::Open, DoorPhase::Open) if s.door_timer.is_none() => door_ajar(s),
        // Door open as expected, or the unlock still pending: its timer
        // (retry, then lock fault) takes care of it.
        _ => Step::noted(s),
    }
}

/// Whether the presence reading settles a session at once.
fn decisive(purpose: Purpose, occupied: Option<bool>) -> bool {
    match purpose {
        Purpose::Deposit => occupied == Some(true),
        Purpose::Pickup | Purpose::Removal | Purpose::Inspection => occupied == Some(false),
    }
}

/// The door closed and the presence sensor has spoken (or had its time):
/// the verdict, and the books after it. `None` for a deposit session
/// without its parcel, which the books never hold (a restore refuses it).
fn finish(
    mut s: Slot,
    purpose: Purpose,
    by: Actor,
    now: Instant,
    policy: &Policy,
) -> Option<(Slot, Verdict)> {
    let occupied = s.occupied == Some(true);
    s.door_timer = None;
    let verdict = match (purpose, occupied) {
        (Purpose::Deposit, true) => {
            let mut p = s.parcel?;
            p.clock_base = now;
            p.deposited_at = Some(now);
            p.notices = 0;
            s.parcel = Some(p);
            s.stage = Stage::Stored;
            s.parcel_timer = Some(notice_due(policy, &p));
            Verdict::DepositVerified {
                collector: p.kind.collector(),
            }
        }
        (Purpose::Deposit, false) => {
            settle_back(&mut s, purpose, now, policy);
            Verdict::NoParcelDetected
        }
        (Purpose::Pickup | Purpose::Removal, false) => parcel_out(&mut s, purpose, now),
        (Purpose::Pickup, true) => {
            settle_back(&mut s, purpose, now, policy);
            if let Some(p) = s.parcel.as_mut() {
                p.reopens = p.reopens.saturating_add(1);
            }
            Verdict::ParcelLeftInside {
                collector: s.parcel.map_or(by, |p| p.kind.collector()),
            }
        }
        (Purpose::Removal, true) => {
            settle_back(&mut s, purpose, now, policy);
            s.out_of_service = Some(ServiceReason::RemovalNotVerified);
            Verdict::RemovalNotVerified
        }
        (Purpose::Inspection, _) => {
            settle_back(&mut s, purpose, now, policy);
            if occupied && s.parcel.is_none() {
                s.out_of_service = Some(ServiceReason::SensorDisagrees);
                Verdict::UnexpectedItem
            } else {
                Verdict::Inspected
            }
        }
    };
    Some((s, verdict))
}

/// The parcel left with the person the door was opened for: the
/// compartment is free. How long a picked-up parcel waited goes with the
/// verdict (`None` for a removal).
fn parcel_out(s: &mut Slot, purpose: Purpose, now: Instant) -> Verdict {
    let dwell = match (purpose, s.parcel.and_then(|p| p.deposited_at)) {
        (Purpose::Pickup, Some(at)) => Some(now - at),
        _ => None,
    };
    s.stage = Stage::Free;
    s.parcel = None;
    s.parcel_timer = None;
    Verdict::PickupVerified { purpose, dwell }
}

/// Staff certify that an expired parcel whose removal the presence sensor
/// disputed ([`Verdict::RemovalNotVerified`]) is out: they looked into the
/// compartment after the removal and saw it empty. The books become what a
/// verified removal leaves (the same verdict, by staff), and the compartment
/// is back in service. The bank checked the stage, the service reason and
/// the door before.
pub(super) fn removal_certified(mut s: Slot, now: Instant) -> Step {
    let verdict = parcel_out(&mut s, Purpose::Removal, now);
    s.out_of_service = None;
    s.door_timer = None;
    Step {
        books: s,
        happened: Happened::Finished {
            by: Actor::Staff,
            verdict,
        },
    }
}

/// Returns a compartment whose session ended without the parcel changing
/// hands to the stage it was in before, with that stage's deadline.
fn settle_back(s: &mut Slot, purpose: Purpose, now: Instant, policy: &Policy) {
    s.door_timer = None;
    match purpose {
        Purpose::Deposit => {
            s.stage = Stage::Reserved;
            s.parcel_timer = Some(now + policy.deposit_window);
        }
        Purpose::Pickup => {
            s.stage = Stage::Stored;
            s.parcel_timer = s.parcel.map(|p| notice_due(policy, &p));
        }
        Purpose::Removal => {
            s.stage = Stage::Expired;
            s.parcel_timer = None;
        }
        Purpose::Inspection => {
            s.stage = if s.parcel.is_some() {
                Stage::Reserved
            } else {
                Stage::Free
            };
            s.parcel_timer = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::codes::CodeHash;
    use super::super::parcel::{Parcel, ParcelId, ParcelKind};
    use super::*;

    /// Seconds into the day the story starts.
    fn at(secs: u64) -> Instant {
        Instant::from_secs(3_600 + secs)
    }

    fn parcel(deposited_at: Option<Instant>) -> Parcel {
        Parcel {
            id: ParcelId(7),
            kind: ParcelKind::Delivery,
            code: CodeHash::from_bytes([0x42; 16]),
            clock_base: deposited_at.unwrap_or(at(0)),
            deposited_at,
            notices: 0,
            reopens: 0,
            perishable: false,
            cold: crate::bank::cold::ColdChain::default(),
        }
    }

    /// An empty compartment held for a delivery.
    fn reserved() -> Slot {
        Slot {
            stage: Stage::Reserved,
            parcel: Some(parcel(None)),
            occupied: Some(false),
            parcel_timer: Some(at(0) + Duration::from_hours(24)),
            ..Slot::EMPTY
        }
    }

    /// A delivery deposited an hour before the story starts.
    fn stored() -> Slot {
        let p = parcel(Some(Instant::from_secs(0)));
        Slot {
            stage: Stage::Stored,
            parcel: Some(p),
            occupied: Some(true),
            parcel_timer: Some(notice_due(&Policy::default(), &p)),
            ..Slot::EMPTY
        }
    }

    fn occupied() -> Presence {
        Presence::occupied(310, 100)
    }

    fn empty() -> Presence {
        Presence::empty(12, 100)
    }

    fn session(purpose: Purpose, phase: DoorPhase, by: Actor) -> Stage {
        Stage::Door { purpose, phase, by }
    }

    /// The door closes at `secs` and the presence sensor has its time.
    fn closed_and_settled(s: Slot, secs: u64, policy: &Policy) -> Step {
        let s = door_closed(s, at(secs), policy).books;
        door_timer(s, at(secs) + policy.presence_settle, policy, true, false)
    }

    /// The door unlocked for `purpose` at 0 s and opened at 5 s.
    fn opened(s: Slot, purpose: Purpose, by: Actor, policy: &Policy) -> Slot {
        let s = open(s, purpose, by, at(0), policy).books;
        door_opened(s, true, at(5), policy).books
    }

    #[test]
    fn a_courier_opens_drops_the_parcel_and_closes_deposit_verified() {
        let policy = Policy::default();
        let step = open(reserved(), Purpose::Deposit, Actor::Courier, at(0), &policy);
        assert_eq!(
            step.happened,
            Happened::UnlockSent {
                purpose: Purpose::Deposit,
                attempt: 0,
                by: Actor::Courier
            }
        );
        let unlocking = DoorPhase::Unlocking { attempt: 0 };
        assert_eq!(
            step.books.stage,
            session(Purpose::Deposit, unlocking, Actor::Courier)
        );
        assert_eq!(step.books.door_timer, Some(at(0) + policy.unlock_confirm));
        assert_eq!(step.books.parcel_timer, None, "the hold waits meanwhile");

        let step = door_opened(step.books, true, at(5), &policy);
        assert_eq!(step.happened, Happened::DoorOpened { by: Actor::Courier });
        assert_eq!(step.books.door_timer, Some(at(5) + policy.door_ajar_limit));

        let step = presence_changed(step.books, occupied(), at(20), &policy);
        assert_eq!(
            step.happened,
            Happened::Noted,
            "it counts once the door closes"
        );

        let step = door_closed(step.books, at(30), &policy);
        assert_eq!(
            step.happened,
            Happened::DoorClosed {
                by: Actor::Courier,
                verdict: Some(Verdict::DepositVerified {
                    collector: Actor::Recipient
                }),
            }
        );
        let s = step.books;
        assert_eq!(s.stage, Stage::Stored);
        assert_eq!(s.door_timer, None);
        assert_eq!(s.parcel.and_then(|p| p.deposited_at), Some(at(30)));
        assert_eq!(s.parcel_timer, Some(at(30) + policy.reminder_after));
    }

    #[test]
    fn the_sensor_settling_after_the_door_closed_verifies_the_deposit() {
        let policy = Policy::default();
        let s = opened(reserved(), Purpose::Deposit, Actor::Courier, &policy);
        let step = door_closed(s, at(30), &policy);
        assert_eq!(
            step.happened,
            Happened::DoorClosed {
                by: Actor::Courier,
                verdict: None
            }
        );
        let verifying = session(Purpose::Deposit, DoorPhase::Verifying, Actor::Courier);
        assert_eq!(step.books.stage, verifying);
        assert_eq!(step.books.door_timer, Some(at(30) + policy.presence_settle));

        let step = presence_changed(step.books, occupied(), at(31), &policy);
        assert_eq!(
            step.happened,
            Happened::Finished {
                by: Actor::Courier,
                verdict: Verdict::DepositVerified {
                    collector: Actor::Recipient
                },
            }
        );
        assert_eq!(step.books.stage, Stage::Stored);
    }

    #[test]
    fn the_courier_closes_an_empty_door_and_is_told_once_the_sensor_had_its_time() {
        let policy = Policy::default();
        let s = opened(reserved(), Purpose::Deposit, Actor::Courier, &policy);
        let step = closed_and_settled(s, 30, &policy);
        let settled = at(30) + policy.presence_settle;
        assert_eq!(
            step.happened,
            Happened::Finished {
                by: Actor::Courier,
                verdict: Verdict::NoParcelDetected,
            }
        );
        let s = step.books;
        assert_eq!(s.stage, Stage::Reserved, "the courier may try again");
        assert_eq!(s.parcel_timer, Some(settled + policy.deposit_window));
        assert_eq!(s.door_timer, None);
        assert_eq!(s.parcel.map(|p| p.id), Some(ParcelId(7)));
    }

    #[test]
    fn the_recipient_takes_the_parcel_and_closes_pickup_verified_and_the_compartment_is_free() {
        let policy = Policy::default();
        let s = opened(stored(), Purpose::Pickup, Actor::Recipient, &policy);
        let s = presence_changed(s, empty(), at(10), &policy).books;
        let step = door_closed(s, at(15), &policy);
        assert_eq!(
            step.happened,
            Happened::DoorClosed {
                by: Actor::Recipient,
                verdict: Some(Verdict::PickupVerified {
                    purpose: Purpose::Pickup,
                    dwell: Some(Duration::from_secs(3_615)),
                }),
            }
        );
        let s = step.books;
        assert_eq!(s.stage, Stage::Free);
        assert!(s.parcel.is_none());
        assert_eq!((s.door_timer, s.parcel_timer), (None, None));
    }

    #[test]
    fn the_recipient_closes_the_door_on_the_parcel_and_it_stays_stored_with_its_code() {
        let policy = Policy::default();
        let s = opened(stored(), Purpose::Pickup, Actor::Recipient, &policy);
        let step = closed_and_settled(s, 15, &policy);
        assert_eq!(
            step.happened,
            Happened::Finished {
                by: Actor::Recipient,
                verdict: Verdict::ParcelLeftInside {
                    collector: Actor::Recipient
                },
            }
        );
        let s = step.books;
        assert_eq!(s.stage, Stage::Stored);
        assert!(s.parcel.is_some_and(|p| p.code.ct_eq(&parcel(None).code)));
        assert_eq!(s.parcel_timer, stored().parcel_timer, "reminders as before");
    }

    #[test]
    fn the_door_opens_without_a_command_during_a_pickup_session_and_it_is_the_sessions() {
        // The node's `commanded` flag is lost across a node restart; the
        // books expect the door, so it is not forced: not while unlocking,
        // nor when it opens again before the sensor settled.
        let policy = Policy::default();
        let s = open(stored(), Purpose::Pickup, Actor::Recipient, at(0), &policy).books;
        let step = door_opened(s, true, at(5), &policy);
        let by = Actor::Recipient;
        assert_eq!(step.happened, Happened::DoorOpened { by });
        let s = door_closed(step.books, at(9), &policy).books;
        let step = door_opened(s, true, at(10), &policy);
        assert_eq!(step.happened, Happened::DoorOpened { by });
        let open_phase = session(Purpose::Pickup, DoorPhase::Open, by);
        assert_eq!(step.books.stage, open_phase);
        assert_eq!(step.books.out_of_service, None);
    }

    #[test]
    fn a_door_that_opens_with_no_session_is_forced_taken_out_and_not_reported_ajar_on_top() {
        let policy = Policy::default();
        let step = door_opened(stored(), false, at(0), &policy);
        assert_eq!(step.happened, Happened::DoorForced);
        assert_eq!(step.books.out_of_service, Some(ServiceReason::ForcedDoor));
        assert_eq!(
            step.books.stage,
            Stage::Stored,
            "the parcel stays in the books"
        );
        let again = door_opened(step.books, false, at(1), &policy);
        assert_eq!(again.happened, Happened::Nothing, "a repeated report");
        // Left open: the node's ajar report a minute later raises nothing
        // more, staff are already on their way for the forced door.
        let step = door_ajar(step.books);
        assert_eq!(step.happened, Happened::Noted);
        assert!(step.books.ajar_reported);
        assert_eq!(step.books.out_of_service, Some(ServiceReason::ForcedDoor));
    }

    #[test]
    fn the_node_hears_the_unlock_but_the_door_never_opens_retried_once_then_a_lock_fault() {
        let policy = Policy::default();
        // The node acknowledged the unlock (it pulsed the lock) and answers:
        // the bank blames the lock.
        let s = open(stored(), Purpose::Pickup, Actor::Recipient, at(0), &policy).books;
        let first = at(0) + policy.unlock_confirm;
        let step = door_timer(s, first, &policy, true, false);
        assert_eq!(
            step.happened,
            Happened::UnlockSent {
                purpose: Purpose::Pickup,
                attempt: 1,
                by: Actor::System
            }
        );
        assert_eq!(step.books.door_timer, Some(first + policy.unlock_confirm));
        let step = door_timer(
            step.books,
            first + policy.unlock_confirm,
            &policy,
            true,
            false,
        );
        assert_eq!(
            step.happened,
            Happened::LockFault {
                by: Actor::Recipient,
                attempts: 2
            }
        );
        let s = step.books;
        assert_eq!(s.stage, Stage::Stored, "back where the session found it");
        assert_eq!(s.out_of_service, Some(ServiceReason::LockFault));
        assert_eq!(s.parcel_timer, stored().parcel_timer);
        assert_eq!(s.door_timer, None);
    }

    /// A recipient's pickup whose door did not open after the unlock nor
    /// after its retry: the step at the retry's deadline. `heard`: the node
    /// acknowledged the unlocks (the lock is to blame).
    fn pickup_whose_door_never_opened(policy: &Policy, heard: bool) -> Step {
        let s = open(stored(), Purpose::Pickup, Actor::Recipient, at(0), policy).books;
        let first = at(0) + policy.unlock_confirm;
        let s = door_timer(s, first, policy, heard, false).books;
        door_timer(s, first + policy.unlock_confirm, policy, heard, false)
    }

    #[test]
    fn an_unlock_the_node_never_confirmed_is_not_blamed_on_the_lock() {
        let policy = Policy::default();
        // Neither unlock was acknowledged (the answers, or the commands,
        // lost on a noisy bus): the session ends, the compartment stays in
        // service, the recipient is told the door would not open.
        let step = pickup_whose_door_never_opened(&policy, false);
        assert_eq!(
            step.happened,
            Happened::Unanswered {
                by: Actor::Recipient,
                attempts: 2
            }
        );
        assert_eq!(step.books.stage, Stage::Stored);
        assert_eq!(step.books.out_of_service, None);
        // The node's pulse opened the door after all: the pickup goes on,
        // never a forced door.
        let step = door_opened(step.books, true, at(40), &policy);
        assert_eq!(
            step.happened,
            Happened::LateOpening {
                by: Actor::Recipient,
                was_lock_fault: false
            }
        );
    }

    #[test]
    fn an_unlock_that_could_not_be_sent_ends_the_session_at_once_in_service() {
        let policy = Policy::default();
        let s = open(reserved(), Purpose::Deposit, Actor::Courier, at(0), &policy).books;
        let step = unlock_not_sent(s, at(1), &policy);
        assert_eq!(
            step.happened,
            Happened::Unanswered {
                by: Actor::Courier,
                attempts: 1
            }
        );
        assert_eq!(step.books.stage, Stage::Reserved);
        assert_eq!(step.books.out_of_service, None);
        assert_eq!(step.books.door_timer, None);
        // A second report for the session already over changes nothing.
        let again = unlock_not_sent(step.books, at(2), &policy);
        assert_eq!(again.happened, Happened::Nothing);
    }

    #[test]
    fn an_unlock_whose_time_ran_out_while_the_bank_was_off_is_not_retried_for_nobody() {
        let policy = Policy::default();
        let s = open(stored(), Purpose::Pickup, Actor::Recipient, at(0), &policy).books;
        // The mains went, the battery ran down, the bank came back an hour
        // later: the recipient is long gone.
        let step = door_timer(s, at(3_600), &policy, true, false);
        assert_eq!(
            step.happened,
            Happened::Unanswered {
                by: Actor::Recipient,
                attempts: 1
            }
        );
        assert_eq!(step.books.stage, Stage::Stored);
        assert_eq!(step.books.out_of_service, None);
    }

    #[test]
    fn a_door_the_node_opened_after_the_bank_gave_up_is_the_pickup_not_a_forced_door() {
        let policy = Policy::default();
        let given_up = pickup_whose_door_never_opened(&policy, true).books;
        assert_eq!(given_up.out_of_service, Some(ServiceReason::LockFault));
        // The node says its pulse opened the door after all (the answers were
        // lost on the bus): the recipient's pickup goes on.
        let late = at(40);
        let step = door_opened(given_up, true, late, &policy);
        assert_eq!(
            step.happened,
            Happened::LateOpening {
                by: Actor::Recipient,
                was_lock_fault: true
            }
        );
        assert_eq!(step.books.out_of_service, None);
        assert_eq!(step.books.door_timer, Some(late + policy.door_ajar_limit));
        let step = closed_and_settled(step.books, 50, &policy);
        assert!(matches!(
            step.happened,
            Happened::Finished {
                verdict: Verdict::ParcelLeftInside { .. },
                ..
            } | Happened::DoorClosed {
                verdict: Some(Verdict::ParcelLeftInside { .. }),
                ..
            }
        ));
        // Opened without the node's pulse, the same door is forced.
        let step = door_opened(given_up, false, late, &policy);
        assert_eq!(step.happened, Happened::DoorForced);
    }

    #[test]
    fn a_refused_unlock_or_a_jam_during_the_unlock_counts_as_the_door_not_opening() {
        let policy = Policy::default();
        let s = open(reserved(), Purpose::Deposit, Actor::Courier, at(0), &policy).books;
        let retry = Happened::UnlockSent {
            purpose: Purpose::Deposit,
            attempt: 1,
            by: Actor::System,
        };
        assert_eq!(unlock_failed(s, at(1), &policy, true).happened, retry);
        let jammed = fault(s, FaultCode::LockJammed, at(1), &policy);
        assert_eq!(jammed.happened, retry);
        // Outside an unlock, a jam is evidence for sensor health only.
        let s = stored();
        let step = fault(s, FaultCode::DoorDidNotOpen, at(1), &policy);
        assert_eq!(
            step.happened,
            Happened::LockTrouble(FaultCode::DoorDidNotOpen)
        );
        assert_eq!(step.books.out_of_service, None);
        let step = fault(s, FaultCode::PresenceStuck, at(1), &policy);
        assert_eq!(step.happened, Happened::Fault(FaultCode::PresenceStuck));
        assert_eq!(
            unlock_failed(s, at(1), &policy, true).happened,
            Happened::Nothing
        );
    }

    #[test]
    fn a_door_left_ajar_past_the_limit_is_reported_once_per_opening() {
        let policy = Policy::default();
        let s = opened(reserved(), Purpose::Deposit, Actor::Courier, &policy);
        // The time is up: the bank asks whether the door is still open,
        // and the node's status says it is.
        let asked = door_timer(s, at(5) + policy.door_ajar_limit, &policy, true, false);
        assert_eq!(asked.happened, Happened::AskIfStillOpen);
        assert!(!asked.books.ajar_reported);
        let step = scanned(
            asked.books,
            DoorState::Open,
            false,
            at(6) + policy.door_ajar_limit,
            &policy,
        );
        assert_eq!(
            step.happened,
            Happened::DoorAjar {
                tell: Actor::Courier
            }
        );
        assert!(step.books.ajar_reported);
        assert_eq!(step.books.door_timer, None);
        let again = door_ajar(step.books);
        assert_eq!(again.happened, Happened::Nothing, "the node says so too");
        let step = door_closed(step.books, at(400), &policy);
        assert!(
            !step.books.ajar_reported,
            "the next opening is watched again"
        );
    }

    #[test]
    fn staff_close_an_expired_parcels_door_with_it_inside_removal_not_verified() {
        let policy = Policy::default();
        let expired = Slot {
            stage: Stage::Expired,
            parcel_timer: None,
            ..stored()
        };
        let s = opened(expired, Purpose::Removal, Actor::Staff, &policy);
        let step = closed_and_settled(s, 20, &policy);
        assert_eq!(
            step.happened,
            Happened::Finished {
                by: Actor::Staff,
                verdict: Verdict::RemovalNotVerified
            }
        );
        assert_eq!(step.books.stage, Stage::Expired);
        let reason = Some(ServiceReason::RemovalNotVerified);
        assert_eq!(step.books.out_of_service, reason);
    }

    #[test]
    fn staff_certify_a_removal_the_sensor_disputed_and_the_books_read_as_a_verified_removal() {
        let policy = Policy::default();
        let expired = Slot {
            stage: Stage::Expired,
            parcel_timer: None,
            ..stored()
        };
        let s = opened(expired, Purpose::Removal, Actor::Staff, &policy);
        let disputed = closed_and_settled(s, 20, &policy).books;
        let step = removal_certified(disputed, at(60));
        let verified = Verdict::PickupVerified {
            purpose: Purpose::Removal,
            dwell: None,
        };
        let by = Actor::Staff;
        assert_eq!(
            step.happened,
            Happened::Finished {
                by,
                verdict: verified
            }
        );
        let s = step.books;
        assert_eq!(s.stage, Stage::Free);
        assert!(s.parcel.is_none());
        assert_eq!(s.out_of_service, None, "back in service");
        assert_eq!((s.door_timer, s.parcel_timer), (None, None));
        assert_eq!(
            s.occupied,
            Some(true),
            "the sensor's word is kept as it was"
        );
        // The same books as the removal the sensor had verified.
        let s = opened(expired, Purpose::Removal, Actor::Staff, &policy);
        let s = presence_changed(s, empty(), at(10), &policy).books;
        let step = door_closed(s, at(20), &policy);
        let happened = Happened::DoorClosed {
            by,
            verdict: Some(verified),
        };
        assert_eq!(step.happened, happened);
        assert_eq!(step.books.stage, Stage::Free);
    }

    #[test]
    fn an_inspection_finding_an_item_the_books_do_not_know_takes_the_compartment_out() {
        let policy = Policy::default();
        let free = Slot {
            occupied: Some(false),
            ..Slot::EMPTY
        };
        let s = opened(free, Purpose::Inspection, Actor::Staff, &policy);
        let looked = door_closed(s, at(20), &policy);
        assert_eq!(
            looked.happened,
            Happened::DoorClosed {
                by: Actor::Staff,
                verdict: Some(Verdict::Inspected)
            }
        );
        assert_eq!(looked.books.stage, Stage::Free);

        let s = presence_changed(s, occupied(), at(10), &policy).books;
        let step = closed_and_settled(s, 20, &policy);
        assert_eq!(
            step.happened,
            Happened::Finished {
                by: Actor::Staff,
                verdict: Verdict::UnexpectedItem
            }
        );
        assert_eq!(step.books.stage, Stage::Free);
        let reason = Some(ServiceReason::SensorDisagrees);
        assert_eq!(step.books.out_of_service, reason);
    }

    #[test]
    fn behind_a_shut_door_with_no_session_a_parcel_vanishing_is_a_disagreement() {
        let policy = Policy::default();
        let step = presence_changed(stored(), empty(), at(0), &policy);
        assert_eq!(step.happened, Happened::SensorDisagrees(empty()));
        let reason = Some(ServiceReason::SensorDisagrees);
        assert_eq!(step.books.out_of_service, reason);
        assert_eq!(step.books.stage, Stage::Stored, "not a pickup");
        let again = presence_changed(step.books, empty(), at(1), &policy);
        assert_eq!(again.happened, Happened::Nothing, "a repeated report");
        // Once out of service, further readings are only noted.
        let back = presence_changed(step.books, occupied(), at(2), &policy);
        assert_eq!(back.happened, Happened::Noted);
    }

    #[test]
    fn a_scan_after_a_restart_finishes_a_session_whose_door_closed_meanwhile() {
        let policy = Policy::default();
        let by = Actor::Recipient;
        let s = opened(stored(), Purpose::Pickup, by, &policy);
        let step = scanned(s, DoorState::Closed, false, at(60), &policy);
        let verdict = Verdict::PickupVerified {
            purpose: Purpose::Pickup,
            dwell: Some(Duration::from_secs(3_660)),
        };
        let closed = Happened::DoorClosed {
            by,
            verdict: Some(verdict),
        };
        assert_eq!(step.happened, closed);
        assert_eq!(step.books.stage, Stage::Free);
        // Closed before the restart, verifying: only the verdict is new.
        let s = door_closed(s, at(30), &policy).books;
        let step = scanned(s, DoorState::Closed, true, at(60), &policy);
        let left = Verdict::ParcelLeftInside { collector: by };
        assert_eq!(step.happened, Happened::Finished { by, verdict: left });
        // An unlock whose opening was missed: the door is open now.
        let s = open(stored(), Purpose::Pickup, by, at(0), &policy).books;
        let step = scanned(s, DoorState::Open, true, at(60), &policy);
        assert_eq!(step.happened, Happened::DoorOpened { by });
        assert_eq!(step.books.door_timer, Some(at(60) + policy.door_ajar_limit));
    }

    #[test]
    fn a_door_timer_with_nothing_left_to_do_is_cleared_not_fired_again() {
        let policy = Policy::default();
        let stale = Slot {
            door_timer: Some(at(0)),
            ..stored()
        };
        let step = door_timer(stale, at(1), &policy, true, false);
        assert_eq!(step.happened, Happened::Noted);
        assert_eq!(step.books.door_timer, None);
        // A policy of zero durations cannot make the retry fire at once.
        let hasty = Policy {
            unlock_confirm: Duration::from_millis(0),
            ..policy
        };
        let s = open(stored(), Purpose::Pickup, Actor::Recipient, at(0), &hasty).books;
        let step = door_timer(s, at(0), &hasty, true, false);
        assert!(matches!(
            step.happened,
            Happened::UnlockSent { attempt: 1, .. }
        ));
        assert_eq!(step.books.door_timer, None);
    }
}
