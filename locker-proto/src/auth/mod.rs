//! Authenticated bus frames (feature `auth`, on by default), after AUTOSAR
//! SecOC: a truncated MAC over header, body and a freshness counter.
//!
//! In December 2020 an attack opened 2,732 parcel lockers in Moscow at once.
//! A door must open only for a valid code, an authenticated command or an
//! audited override, even for an attacker who taps the RS-485 bus inside
//! the cabinet. This module is the bus part of that promise.
//!
//! Every input byte of every tag, challenge and binding, with golden
//! vectors, is in `spec/bus.md` (at the repository root), section 7.
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
//!   forget a security event). Polls, status and pings only read: they are
//!   not signed but carry the gateway's challenge for the answer (see
//!   *Answers*).
//! - **Every answer the gateway acts on is tagged** (see *Answers* below):
//!   events, status, bulk status, pongs, acknowledgements and refusals. From
//!   a keyed node, an answer without a valid tag is no answer: the
//!   [`Master`](crate::link::Master) ignores it, counts it in
//!   [`LinkStats::auth_rejected`](crate::link::LinkStats::auth_rejected) and
//!   reports it as [`MasterEvent::AnswersRejected`](crate::link::MasterEvent::AnswersRejected),
//!   a security event.
//!
//! # Answers
//!
//! A node answers only when asked, so every answer is bound to the request
//! it answers, and a node needs no counter of its own: nothing a node sends,
//! and nothing an attacker sends it, ever causes a flash write on the node.
//!
//! - **Answers to signed commands** are tagged under the *command's*
//!   counter in the [`Direction::ToGateway`] direction. The gateway accepts
//!   the answer to a signed command only with that tag.
//! - **Queries** (event polls, status, bulk status, ping: everything that
//!   does not [need a tag](crate::Command::needs_tag)) go out with a
//!   *challenge* in place of the tag: the trailer's 8 tag bytes are
//!   [`challenge`]`(key, epoch, index)`, its freshness bytes are zero. The
//!   node does not check it (a query only reads, and checking freshness would
//!   cost the node a counter, hence flash writes, for every poll). It tags
//!   its answer in the [`Direction::QueryAnswer`] direction under
//!   [`query_binding`]`(key, query header and body, challenge)`, which the
//!   gateway computes from the query it sent.
//!
//! Why a recorded or borrowed answer never passes:
//!
//! 1. *Forged*: without the key nobody makes a valid tag (2⁻⁶⁴ per try, as
//!    for commands).
//! 2. *Replayed onto a later query*: the gateway never sends the same
//!    challenge twice. `epoch` is a value taken once per run from the
//!    node's [`TxCounter`], which never hands out a value twice, across
//!    restarts too (its reservation is stored before the value is used; a
//!    gateway's queries to a keyed node wait for that, as its signed
//!    commands do); `index` counts the run's queries. A retransmission
//!    carries the same challenge, so a late answer to the first copy still
//!    counts.
//! 3. *Harvested in advance*: the node answers any challenge, so an attacker
//!    could ask it for answers under challenges of his choosing, but the
//!    gateway's challenges are HMAC outputs under the node's key: he cannot
//!    know one before the gateway sends it.
//! 4. *Borrowed for another request*: the binding covers the query's
//!    header (sequence number, addresses) and body, so an answer the
//!    attacker obtains by sending the node *another* query under the
//!    gateway's challenge (a status request in place of an event poll) has
//!    another binding. And the [`Direction::QueryAnswer`] byte keeps every
//!    answer to a query apart from every answer to a signed command: a node
//!    tagging under an attacker's chosen challenge never produces an
//!    acknowledgement or refusal of an unlock.
//!
//! What it costs: a query is [`AUTH_TRAILER_LEN`](crate::frame::AUTH_TRAILER_LEN)
//! (10) bytes longer on the wire, and so is every answer to one; a node
//! computes two HMACs per query (binding, then tag), the gateway three
//! (challenge, binding, check). An unkeyed node answers unsigned, and the
//! gateway accepts that only from a node it holds no key for.
//!
//! The master also keeps to the event numbering whoever signs: it delivers
//! a node's events only in order (the next number after the last delivered,
//! or a restart), never moves its mark past what it delivered, and
//! acknowledges only up to what it delivered, so even an unkeyed node's
//! events cannot be hidden by one report numbered far ahead.
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
//! A gateway more than [`ACCEPT_WINDOW`] (32,768) authenticated commands
//! behind a node cannot be resynchronised by stale refusals: its frames look
//! forged. That takes a lost counter store (a replaced disk, a restored
//! backup) or 32,768 commands to a node that never heard them. So the
//! [`Master`](crate::link::Master) asks every keyed node for its floor
//! ([`Command::GetAuthFloor`](crate::Command::GetAuthFloor)) once per run,
//! before its first signed command, and moves its counter up to the
//! [`Report::AuthFloor`](crate::Report::AuthFloor) it gets. The answer is a
//! query's answer, tagged under the binding of the gateway's fresh
//! challenge, so nobody on the bus can push the gateway's counter out of
//! step with a forged floor; and the counter only ever moves up, so a value
//! once used is never used again. No provisioning is needed after a lost
//! counter store. (A node built without `auth` answers
//! `Nack(Unsupported)`, and stale refusals are all it offers. A node whose
//! firmware predates the command cannot decode it, so it does not answer at
//! all: see `spec/bus.md`, *Error handling*.)
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
//! comparison ORs the XOR of every byte pair and looks at the result once,
//! with no early exit. The counter reconstruction branches
//! on counter bits, which are public. Key derivation (HKDF) runs on the
//! gateway. Feature `auth-compact` replaces `hmac` and `sha2` for the tag
//! with an HMAC-SHA256 of this crate's own (one round loop, fed a byte at a
//! time), with the same properties, for less flash and far less stack.
//!
//! # Footprint
//!
//! Measured with `scripts/size-report` on the node firmware in
//! `examples/firmware-stm32g0` (STM32G031, Cortex-M0+, `thumbv6m-none-eabi`,
//! `opt-level = "z"`, LTO, Rust 1.95): with `auth` and `auth-compact`, 22,336
//! bytes of flash against 16,784 without `auth`: **+5,552 bytes (5.4 KiB)**,
//! within the 6 KiB goal; with `hmac` and `sha2`'s unrolled SHA-256 instead,
//! +7,616. Of that, the compact HMAC-SHA256 is about 1.1 KiB (816 bytes of
//! code and the 256-byte round constants), the rest is the node's share of
//! this module (verification, counters, the stored record, the binding of
//! queries), the flash page it is stored in, and the inputs. Static RAM does
//! not grow; the main loop's worst stack grows by 584 bytes (key, HMAC state,
//! cached signed answer; 928 with `hmac` and `sha2`). Without `auth`
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
#[cfg(feature = "auth-compact")]
mod sha256;

pub use crate::key::{KEY_LEN, NodeKey};
pub use counter::{ACCEPT_WINDOW, RESERVATION_BLOCK, RxWindow, TxCounter, Verdict};
pub use key::{BankKey, NodeIdentity};
pub use mac::{Direction, challenge, freshness_bits, query_binding, tag, trailer, verify};
pub use record::{NodeAuthRecord, RecordError};
