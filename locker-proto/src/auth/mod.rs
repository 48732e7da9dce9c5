//! Authenticated bus frames (feature `auth`, on by default), after AUTOSAR
//! SecOC: a truncated MAC over header, body and a freshness counter.
//!
//! In December 2020 an attack opened 2,732 parcel lockers in Moscow at once.
//! A door must open only for a valid code, an authenticated command or an
//! audited override, even for an attacker who taps the RS-485 bus inside
//! the cabinet. This module is the bus part of that promise.
//!
//! # The scheme
//!
//! ```text
//!  raw frame: | header | body | freshness (2) | tag (8) | crc16 |
//!  tag = HMAC-SHA256(node key, header || body || counter as u64 LE || direction)[..8]
//! ```
//!
//! - **Keys** ([`BankKey`], [`NodeIdentity`], [`NodeKey`]): one per node,
//!   `HKDF-SHA256(bank key, node address [+ serial])`. The gateway holds the
//!   bank key; a node holds its own key only, installed with
//!   [`Command::Provision`](crate::Command::Provision) while a physical input
//!   on the node holds it in provisioning mode. Keys never appear in `Debug`
//!   output nor in any [`Report`](crate::Report).
//! - **Counter**: a 64-bit counter per node for the gateway's commands,
//!   never reused ([`TxCounter`]) and never accepted twice ([`RxWindow`]),
//!   across restarts too (see *Freshness*). The wire carries its low
//!   [`FRESHNESS_LEN`](crate::frame::FRESHNESS_LEN) bytes; the node
//!   reconstructs the full value as the one nearest above its floor with those
//!   bits, within [`ACCEPT_WINDOW`]; any other bits name a value at or below
//!   the last one accepted, refused as stale.
//! - **Direction** is in every tag, so an answer cannot be replayed at a
//!   node as a command.
//! - **What is signed**: the gateway signs every command that
//!   [needs a tag](crate::Command::needs_tag): unlock, calibrate, configure,
//!   reboot, and event acknowledgements (so that nobody else can make a node
//!   forget a security event). Polls, status and pings stay unsigned: they
//!   only read.
//! - **Answers are authenticated by echo.** A node answers a command that
//!   carried a valid tag with a frame tagged under the *command's* counter
//!   in the node-to-gateway direction. The gateway accepts an answer to a
//!   signed command only with that tag, so a recorded answer can never pass
//!   for the answer to another command, and a node needs no counter of its
//!   own: no flash write on a node is ever caused by what it sends, nor by
//!   anything an attacker sends. Event reports (answers to unsigned polls)
//!   are not authenticated: the bank reconciles them with full status scans,
//!   and an attacker who can forge events can as well cut the cable.
//!
//! # Resynchronisation
//!
//! A node refuses a frame whose tag is valid but whose counter is at or
//! below its floor (it restarted and its floor jumped to its reservation, or
//! the gateway's counter fell behind) with
//! [`NackReason::Stale { floor }`](crate::NackReason::Stale), tagged with the
//! refused frame's own counter. The gateway's
//! [`Master`](crate::link::Master) verifies that tag, moves its counter up to
//! `floor` and sends the command once more with a fresh counter, but only if
//! the refused transmission was the command's first: after a retransmission
//! an earlier copy may have been executed by a node that then lost its
//! de-duplication cache in a restart, and executing an unlock twice is
//! worse than reporting it refused.
//!
//! A gateway more than [`ACCEPT_WINDOW`] (32,768) authenticated commands away
//! from a node cannot be resynchronised over the bus: its frames look forged.
//! That takes a lost counter store or 32,768 commands to a node that never
//! heard them; provisioning the node again (keeping its floor) and then one
//! stale refusal put them back in step if the gateway is behind, and a
//! gateway never moves its counter down.
//!
//! # Freshness that survives power loss
//!
//! See [`counter`](self::TxCounter): the counters persist a reservation
//! [`RESERVATION_BLOCK`] ahead through the glue (`poll_persist` /
//! `persisted`), resume past it after a restart, and never use or accept a
//! value beyond the confirmed reservation.
//!
//! # Why 8 bytes of tag and 2 of counter
//!
//! A 115,200-baud line at 10 bits per byte carries 11,520 bytes/s. An
//! authenticated unlock is 22 bytes on the wire, so an attacker who owns the
//! line and never lets the node answer gets at most 523 forgery attempts per
//! second.
//!
//! - **Tag, [`TAG_LEN`](crate::frame::TAG_LEN) = 8**: each attempt succeeds
//!   with probability 2⁻⁶⁴ (the counter and the node's refusal make every
//!   attempt a fresh guess). At 523 per second the expected time to a forged
//!   command is 2⁶³ / 523 s ≈ 5.6 × 10⁸ years. A 4-byte tag would fall in
//!   2³¹ / 523 s ≈ 48 days of unattended flooding: too short for a cabinet
//!   in an empty hall at night. Every refused attempt is also a security
//!   event the gateway polls within 250 ms, so staff hear of a flood at once.
//! - **Counter on the wire, [`FRESHNESS_LEN`](crate::frame::FRESHNESS_LEN) =
//!   2**: the MAC covers the full 64-bit counter, which at 523 frames/s lasts
//!   10⁹ years; the wire needs only enough bits to pick the full value near
//!   the floor. The 16 bits wrap every 65,536 frames (about 2 minutes at line
//!   rate), which reconstruction absorbs, and give a window of 32,768: room for a
//!   reservation block of 1,024 skipped at each restart, so flash is written
//!   twice a day, not per command. One byte would leave a window of 128,
//!   forcing blocks of 64 or less (a flash write every 32 commands).
//! - **What the rate limit adds**: tags stop anyone *without* the key. A
//!   gateway *with* the key (compromised, or driven by a compromised backend)
//!   still cannot open more than the node's unlock limit per window (see
//!   `locker-domain`'s controller: 10 per minute by default, lifted only by
//!   the maintenance input on the node itself): a 16-door node takes more
//!   than a minute to empty (each node counts on its own, so a bank of such
//!   nodes does too), and every unlock refused on the way raises a security
//!   event, instead of the whole bank opening in a second. The bank's own limit on remote opens (see
//!   `locker-domain`'s bank) stops a compromised backend before that.
//!
//! # Constant time on Cortex-M0
//!
//! The M0 and M0+ have no data cache, no branch predictor and, on many parts,
//! a multi-cycle multiplier whose timing depends on the operands.
//! HMAC-SHA256 needs none of what would leak: SHA-256's compression is
//! 32-bit additions, XOR, AND, NOT, shifts and rotations, each one cycle
//! whatever the data, with no multiplication; its round constants and message
//! schedule are indexed by the round number, never by key or data (no table
//! lookups with secret indices, unlike table-driven AES); and no branch
//! depends on a secret. HMAC adds only XORs with the pads. The tag
//! comparison is `subtle`'s constant-time equality (through
//! `hmac::Mac::verify_truncated_left`). The counter reconstruction branches
//! on counter bits, which are public. Key derivation (HKDF) runs on the
//! gateway. Feature `auth-compact` selects `sha2`'s rolled-up
//! implementation, with the same properties, for smaller flash.
//!
//! # Footprint
//!
//! Measured with `scripts/size-report` on the node firmware in
//! `examples/firmware-stm32g0` (STM32G031, Cortex-M0+, `thumbv6m-none-eabi`,
//! `opt-level = "z"`, LTO): with `auth` and `auth-compact`, 22,580 bytes of
//! flash against 17,620 without `auth`: **+4,960 bytes (4.8 KiB)**, within the
//! 6 KiB goal; with `sha2`'s unrolled SHA-256 instead, +6,724. Of that,
//! HMAC-SHA256 is about 1.3 KiB, the rest is the node's share of this module
//! (verification, counters, the stored record), the flash page it is stored
//! in, and the inputs. Static RAM does not grow; the main loop's worst stack
//! grows by 928 bytes (key, HMAC state, cached signed answer). Without `auth`
//! the same firmware is 1.8 KiB larger than before authentication existed:
//! the unlock rate limit, security events, the new message variants and the
//! counter-keyed answer cache are there either way.
//!
//! # Example
//!
//! A gateway signs an unlock for node 3; the node checks it.
//!
//! ```
//! use locker_proto::auth::{BankKey, Direction, NodeIdentity, RxWindow, TxCounter, Verdict, trailer};
//! use locker_proto::frame::{encode_authenticated, Decoder, Feed, Flags, Frame, Header, Seq, MAX_FRAME};
//! use locker_proto::{Channel, Command, NodeAddr};
//!
//! let key = BankKey::from_bytes([0x11; 32]).node_key(NodeIdentity::at(NodeAddr(3)));
//! let mut tx = TxCounter::resume(0);
//! let up_to = tx.poll_persist().unwrap();
//! tx.persisted(up_to);
//! let counter = tx.take().unwrap();
//!
//! let unlock = Frame {
//!     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(1), Flags::ACK_WANTED),
//!     body: Command::Unlock { channel: Channel(0), pulse_ms: 300 },
//! };
//! let mut buf = [0u8; MAX_FRAME];
//! let wire = encode_authenticated(&unlock, &mut buf, |covered| {
//!     trailer(&key, covered, counter, Direction::ToNode)
//! })?;
//! assert_eq!(wire.len(), 22);
//!
//! let mut rx = RxWindow::resume(0);
//! let up_to = rx.poll_persist().unwrap();
//! rx.persisted(up_to);
//! let mut decoder = Decoder::new();
//! let Feed::Frame { .. } = decoder.feed::<Command>(wire) else { panic!() };
//! let signed = decoder.last_authenticated().unwrap();
//! assert_eq!(rx.check(&key, signed.covered, &signed.trailer, Direction::ToNode), Verdict::Fresh(counter));
//! # Ok::<(), locker_proto::FrameError>(())
//! ```

mod counter;
mod key;
mod mac;
mod record;

pub use crate::key::{KEY_LEN, NodeKey};
pub use counter::{ACCEPT_WINDOW, RESERVATION_BLOCK, RxWindow, TxCounter, Verdict};
pub use key::{BankKey, NodeIdentity};
pub use mac::{Direction, freshness_bits, tag, trailer, verify};
pub use record::{NodeAuthRecord, RecordError};
