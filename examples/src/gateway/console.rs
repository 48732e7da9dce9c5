//! The operator's line commands: how deposits and pickups reach the bank in
//! this example.
//!
//! In a deployed bank these calls come from the backend (reservations) and
//! the keypad (codes). Here they are text lines, typed on the gateway's
//! standard input:
//!
//! | line | what it does |
//! |---|---|
//! | `deposit <small\|medium\|large>` | reserves the smallest free compartment that fits and unlocks it for the courier (the console is a staff terminal: audited as [`CONSOLE_ACCOUNT`]) |
//! | `return <small\|medium\|large>` | the same for a resident's return |
//! | `courier <compartment> <deposit code>` | the courier is at a compartment the backend reserved (`announce_parcel`) and types its 8-digit deposit code: unlock it |
//! | `pickup <code>` | a code typed at the keypad |
//! | `staff-open <compartment> <staff id>` | the member of staff with that id opens a compartment (audited with the id) |
//! | `serviced <compartment> <staff id>` | the member of staff repaired or replaced the compartment's lock or sensor: its health history (lock faults, drift) starts again; the books and the service state are unchanged (audited with the id) |
//! | `certify-removal <compartment> <staff id>` | after an expired parcel's removal the presence sensor disputed, the member of staff who saw the compartment empty certifies it: the parcel leaves the books, the compartment is back in service and its sensor recalibrated (audited with the id) |
//! | `status` | every compartment's books |
//! | `quit` | persist and stop |

use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{Actor, BankError, CodeOutcome, ParcelKind, ParcelNeeds, StaffId};
use locker_proto::time::Instant;
use locker_proto::{CompartmentId, SizeClass};

use super::{GatewayError, Reply};

/// The account the console's own deposits are audited with: the console
/// is a staff terminal at the bank.
pub const CONSOLE_ACCOUNT: StaffId = StaffId(0);

/// The keypad couriers type deposit codes on (pickup codes go to keypad 0).
pub const COURIER_KEYPAD: KeypadId = KeypadId(1);

/// One line command.
///
/// Its `Debug` shows a typed code as one `*` per character, as
/// [`PickupCode`](locker_domain::bank::codes::PickupCode)'s does: a
/// command can be logged, a code never is.
#[derive(Clone, PartialEq, Eq)]
pub enum ConsoleCommand {
    /// A courier (or, for a return, a resident) is at the bank with a parcel.
    Deposit {
        /// The parcel's size label.
        size: SizeClass,
        /// Delivery or return.
        kind: ParcelKind,
    },
    /// The courier is at a compartment reserved beforehand (by the backend)
    /// and types its deposit code.
    Courier {
        /// The compartment.
        compartment: CompartmentId,
        /// The deposit code as typed.
        code: String,
    },
    /// A code typed at the keypad.
    Pickup {
        /// The digits as typed.
        code: String,
    },
    /// A member of staff opens a compartment.
    StaffOpen {
        /// The compartment.
        compartment: CompartmentId,
        /// Who: the audit names them.
        staff: StaffId,
    },
    /// A member of staff saw empty a compartment whose removal the presence
    /// sensor disputed, and certifies the removal.
    CertifyRemoval {
        /// The compartment.
        compartment: CompartmentId,
        /// Who: the audit names them.
        staff: StaffId,
    },
    /// A member of staff repaired or replaced the compartment's hardware
    /// (a lock, a load cell): its health history starts again
    /// ([`Bank::serviced`](locker_domain::bank::Bank::serviced)).
    Serviced {
        /// The compartment.
        compartment: CompartmentId,
        /// Who: the audit names them.
        staff: StaffId,
    },
    /// Show the books.
    Status,
    /// Persist and stop.
    Quit,
}

impl std::fmt::Debug for ConsoleCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stars = |code: &str| "*".repeat(code.chars().count());
        match self {
            ConsoleCommand::Deposit { size, kind } => f
                .debug_struct("Deposit")
                .field("size", size)
                .field("kind", kind)
                .finish(),
            ConsoleCommand::Courier { compartment, code } => f
                .debug_struct("Courier")
                .field("compartment", compartment)
                .field("code", &format_args!("{}", stars(code)))
                .finish(),
            ConsoleCommand::Pickup { code } => f
                .debug_struct("Pickup")
                .field("code", &format_args!("{}", stars(code)))
                .finish(),
            ConsoleCommand::StaffOpen { compartment, staff } => f
                .debug_struct("StaffOpen")
                .field("compartment", compartment)
                .field("staff", staff)
                .finish(),
            ConsoleCommand::CertifyRemoval { compartment, staff } => f
                .debug_struct("CertifyRemoval")
                .field("compartment", compartment)
                .field("staff", staff)
                .finish(),
            ConsoleCommand::Serviced { compartment, staff } => f
                .debug_struct("Serviced")
                .field("compartment", compartment)
                .field("staff", staff)
                .finish(),
            ConsoleCommand::Status => f.write_str("Status"),
            ConsoleCommand::Quit => f.write_str("Quit"),
        }
    }
}

/// Why a line is not a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The first word is not a command.
    #[error(
        "unknown command {0:?}: try deposit, return, courier, pickup, staff-open, certify-removal, serviced, status or quit"
    )]
    Unknown(String),
    /// The command needs an argument it did not get, or got a bad one.
    #[error("usage: {0}")]
    Usage(&'static str),
}

impl ConsoleCommand {
    /// Parses one line. Blank lines and lines starting with `#` are `Ok(None)`.
    ///
    /// ```
    /// use locker_examples::gateway::ConsoleCommand;
    /// use locker_proto::SizeClass;
    /// use locker_domain::bank::ParcelKind;
    ///
    /// assert_eq!(
    ///     ConsoleCommand::parse("deposit medium").unwrap(),
    ///     Some(ConsoleCommand::Deposit { size: SizeClass::Medium, kind: ParcelKind::Delivery }),
    /// );
    /// assert!(ConsoleCommand::parse("pickup").is_err());
    /// assert_eq!(
    ///     ConsoleCommand::parse("certify-removal 12 7").unwrap(),
    ///     Some(ConsoleCommand::CertifyRemoval {
    ///         compartment: locker_proto::CompartmentId(12),
    ///         staff: locker_domain::bank::StaffId(7),
    ///     }),
    /// );
    /// assert!(ConsoleCommand::parse("certify-removal 12").is_err());
    /// assert_eq!(
    ///     ConsoleCommand::parse("serviced 3 7").unwrap(),
    ///     Some(ConsoleCommand::Serviced {
    ///         compartment: locker_proto::CompartmentId(3),
    ///         staff: locker_domain::bank::StaffId(7),
    ///     }),
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConsoleError`] naming the expected form.
    pub fn parse(line: &str) -> Result<Option<Self>, ConsoleError> {
        let mut words = line.split_whitespace();
        let Some(verb) = words.next() else {
            return Ok(None);
        };
        if verb.starts_with('#') {
            return Ok(None);
        }
        let arg = words.next();
        let command = match verb {
            "deposit" | "return" => {
                let size = match arg {
                    Some("small") => SizeClass::Small,
                    Some("medium") => SizeClass::Medium,
                    Some("large") => SizeClass::Large,
                    _ => return Err(ConsoleError::Usage("deposit|return small|medium|large")),
                };
                let kind = if verb == "deposit" {
                    ParcelKind::Delivery
                } else {
                    ParcelKind::Return
                };
                ConsoleCommand::Deposit { size, kind }
            }
            "pickup" => match arg {
                Some(code) => ConsoleCommand::Pickup {
                    code: code.to_string(),
                },
                None => return Err(ConsoleError::Usage("pickup <code>")),
            },
            "courier" => match (arg.and_then(|a| a.parse().ok()), words.next()) {
                (Some(id), Some(code)) => ConsoleCommand::Courier {
                    compartment: CompartmentId(id),
                    code: code.to_string(),
                },
                _ => {
                    return Err(ConsoleError::Usage(
                        "courier <compartment number> <deposit code>",
                    ));
                }
            },
            "staff-open" => {
                let (compartment, staff) = staff_act(
                    arg,
                    words.next(),
                    "staff-open <compartment number> <staff id>",
                )?;
                ConsoleCommand::StaffOpen { compartment, staff }
            }
            "certify-removal" => {
                let (compartment, staff) = staff_act(
                    arg,
                    words.next(),
                    "certify-removal <compartment number> <staff id>",
                )?;
                ConsoleCommand::CertifyRemoval { compartment, staff }
            }
            "serviced" => {
                let (compartment, staff) = staff_act(
                    arg,
                    words.next(),
                    "serviced <compartment number> <staff id>",
                )?;
                ConsoleCommand::Serviced { compartment, staff }
            }
            "status" => ConsoleCommand::Status,
            "quit" | "exit" => ConsoleCommand::Quit,
            other => return Err(ConsoleError::Unknown(other.to_string())),
        };
        Ok(Some(command))
    }
}

/// A staff command's compartment and staff id, or the command's usage.
fn staff_act(
    compartment: Option<&str>,
    staff: Option<&str>,
    usage: &'static str,
) -> Result<(CompartmentId, StaffId), ConsoleError> {
    match (
        compartment.and_then(|a| a.parse().ok()),
        staff.and_then(|a| a.parse().ok()),
    ) {
        (Some(id), Some(staff)) => Ok((CompartmentId(id), StaffId(staff))),
        _ => Err(ConsoleError::Usage(usage)),
    }
}

impl super::Gateway {
    /// Carries out an operator command.
    ///
    /// # Errors
    ///
    /// File errors while persisting the change. The bank's refusals are
    /// [`Reply::Refused`], not errors.
    pub fn execute(&mut self, command: &ConsoleCommand) -> Result<Reply, GatewayError> {
        let now = self.clock.now();
        if let ConsoleCommand::Deposit { size, kind } = command {
            let reply = self.deposit(*size, *kind, now)?;
            self.carry_out(now)?;
            return Ok(reply);
        }
        let reply = match self.bank_call(command, now) {
            Ok(reply) => reply,
            Err(BankError::OutputsPending) => {
                // Drain and try once more; the bank changed nothing.
                self.carry_out(now)?;
                self.bank_call(command, now)
                    .unwrap_or_else(|e| Reply::Refused(e.to_string()))
            }
            Err(e) => Reply::Refused(e.to_string()),
        };
        self.carry_out(now)?;
        Ok(reply)
    }

    /// A courier without a reservation: a compartment reserved, then
    /// unlocked, each bank call's outputs carried out before the next.
    fn deposit(
        &mut self,
        size: SizeClass,
        kind: ParcelKind,
        now: Instant,
    ) -> Result<Reply, GatewayError> {
        self.carry_out(now)?;
        let needs = ParcelNeeds::size(size);
        let reservation = match self.core.reserve(needs, kind, &mut self.rng, now) {
            Ok(r) => r,
            Err(e) => return Ok(Reply::Refused(e.to_string())),
        };
        self.carry_out(now)?;
        if let Err(e) = self
            .core
            .start_deposit(reservation.compartment, CONSOLE_ACCOUNT, now)
        {
            // Do not leave a compartment held for a courier who was sent away.
            self.carry_out(now)?;
            let _ = self
                .core
                .cancel_reservation(reservation.compartment, Actor::System, now);
            return Ok(Reply::Refused(e.to_string()));
        }
        Ok(Reply::Depositing(reservation))
    }

    fn bank_call(&mut self, command: &ConsoleCommand, now: Instant) -> Result<Reply, BankError> {
        let core = &mut self.core;
        Ok(match command {
            ConsoleCommand::Courier { compartment, code } => {
                let parcel = core.bank().view(*compartment).and_then(|v| v.parcel);
                match core.enter_deposit_code(COURIER_KEYPAD, *compartment, code, now)? {
                    CodeOutcome::Opening(_) => {}
                    rejected => return Ok(Reply::CodeRejected(rejected)),
                }
                match parcel {
                    // The code went to the backend with the reservation.
                    Some(parcel) => Reply::Depositing(locker_domain::bank::Reservation {
                        compartment: *compartment,
                        parcel,
                        code: None,
                    }),
                    None => Reply::Refused("no parcel is reserved there".into()),
                }
            }
            // Two bank calls with their outputs carried out between: `deposit`.
            ConsoleCommand::Deposit { .. } => Reply::Refused("a deposit is two calls".into()),
            ConsoleCommand::Pickup { code } => match core.enter_code(KeypadId(0), code, now)? {
                CodeOutcome::Opening(c) => Reply::Opening(c),
                rejected => Reply::CodeRejected(rejected),
            },
            ConsoleCommand::StaffOpen { compartment, staff } => {
                core.staff_open(*compartment, *staff, now)?;
                Reply::StaffOpening(*compartment)
            }
            ConsoleCommand::CertifyRemoval { compartment, staff } => {
                core.certify_removal(*compartment, *staff, now)?;
                Reply::RemovalCertified(*compartment)
            }
            ConsoleCommand::Serviced { compartment, staff } => {
                core.serviced(*compartment, *staff, now)?;
                Reply::Serviced(*compartment)
            }
            ConsoleCommand::Status => Reply::Books(core.bank().views().collect()),
            ConsoleCommand::Quit => {
                self.stopping = true;
                Reply::Stopping
            }
        })
    }
}
