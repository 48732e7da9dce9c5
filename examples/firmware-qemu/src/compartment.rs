//! One compartment of the simulated cabinet inside the board: a
//! `locker_drivers::sim::SimCompartment` (spring latch, door, load cell)
//! and the person standing at it.
//!
//! The person comes when the lock is pulsed: pulls the door a moment later
//! (it opens if the pulse released the latch), puts a 500 g parcel in if the
//! compartment is empty or takes it out if not, and shuts the door. Times
//! are the node's milliseconds (under `-icount shift=0`, a million
//! instructions each). Every pulse is reported (`pulse CHANNEL COUNT`), so
//! that a test can tell that each unlock pulsed exactly once.
//!
//! The parcel and the pulse count are kept outside the firmware's RAM
//! (`board::cabinet_record`): when the node resets, the parcel is still in
//! the compartment behind its shut door, as in a real cabinet.

use locker_drivers::sim::SimCompartment;
use locker_drivers::{DoorSensor, Lock, PresenceSensor};
use locker_proto::{DoorState, Instant, LockState};

use crate::board::cabinet_record;
use crate::{clock, report};

/// Marks a channel's cabinet record as written by this board (the SSRAM
/// holds zeros before the first write).
const KEPT: u32 = 0x4341_4249;

/// After the pulse, the person pulls the door.
const PULL_AFTER_MS: u64 = 150;
/// After the door opened, the parcel goes in or comes out.
const PARCEL_AFTER_MS: u64 = 300;
/// After the door opened, the person shuts it.
const SHUT_AFTER_MS: u64 = 600;
/// A parcel's weight: the load cell reads grams, the node's threshold is 1.
const PARCEL_GRAMS: u32 = 500;

/// What the person at the compartment is doing.
#[derive(Clone, Copy)]
enum Person {
    Away,
    Coming { pulsed_at: u64 },
    AtOpenDoor { opened_at: u64, parcel_moved: bool },
}

/// One compartment.
pub struct Compartment {
    world: SimCompartment,
    person: Person,
    channel: u32,
    pulses: u32,
}

impl Compartment {
    /// Compartment `channel` as the cabinet holds it: empty at the first
    /// start, else with what lay in it when the node reset (the door shut).
    pub fn new(channel: u32) -> Self {
        let mut world = SimCompartment::new(Instant::ZERO);
        world.set_load_cell(0, 1);
        // SAFETY: three aligned words of SSRAM outside the firmware image,
        // this channel's alone, touched only from the main loop.
        let [mark, grams, pulses] = unsafe { cabinet_record(channel).read_volatile() };
        let (grams, pulses) = if mark == KEPT ^ channel {
            (grams, pulses)
        } else {
            (0, 0)
        };
        if grams > 0 {
            world.force_door();
            let _ = world.place_item(grams);
            world.close_door();
        }
        Compartment {
            world,
            person: Person::Away,
            channel,
            pulses,
        }
    }

    /// Writes what lies in the compartment and the pulse count where a
    /// reset of the node does not clear them.
    fn keep(&self) {
        let record = [KEPT ^ self.channel, self.world.item_grams(), self.pulses];
        // SAFETY: as in `new`.
        unsafe { cabinet_record(self.channel).write_volatile(record) };
    }

    /// Moves the cabinet and the person to the node's present.
    fn advance(&mut self) {
        let now = clock::now_ms();
        self.world.advance_to(Instant::from_millis(now));
        self.person = match self.person {
            Person::Coming { pulsed_at } if now >= pulsed_at + PULL_AFTER_MS => {
                match self.world.open_door() {
                    Ok(()) => Person::AtOpenDoor {
                        opened_at: now,
                        parcel_moved: false,
                    },
                    // Still latched: the person gives up.
                    Err(_) => Person::Away,
                }
            }
            Person::AtOpenDoor {
                opened_at,
                parcel_moved: false,
            } if now >= opened_at + PARCEL_AFTER_MS => {
                let _ = if self.world.item_grams() == 0 {
                    self.world.place_item(PARCEL_GRAMS)
                } else {
                    self.world.remove_items()
                };
                self.keep();
                Person::AtOpenDoor {
                    opened_at,
                    parcel_moved: true,
                }
            }
            Person::AtOpenDoor { opened_at, .. } if now >= opened_at + SHUT_AFTER_MS => {
                self.world.close_door();
                Person::Away
            }
            unchanged => unchanged,
        };
    }

    /// The raw door switch level: true when the door is not shut.
    pub fn door_open(&mut self) -> bool {
        self.advance();
        !matches!(self.world.door_state(), Ok(DoorState::Closed))
    }

    /// The raw presence reading: grams on the load cell.
    pub fn presence(&mut self) -> i32 {
        self.world.reading().unwrap_or(0)
    }

    /// The lock's feedback contact.
    pub fn lock_state(&mut self) -> LockState {
        self.world.lock_state().unwrap_or(LockState::Unknown)
    }

    /// Pulses the lock: the latch lets go and the person comes.
    pub fn pulse(&mut self, _ms: u16) {
        let _ = self.world.unlock();
        self.pulses += 1;
        self.keep();
        self.person = Person::Coming {
            pulsed_at: clock::now_ms(),
        };
        report::line(b"pulse", &[self.channel, self.pulses]);
    }

    /// The indicator: nothing to light on this board.
    pub fn indicate(&mut self, _on: bool) {}
}
