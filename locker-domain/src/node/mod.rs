//! The whole compartment node as one sans-IO machine: the frame decoder, the
//! link layer ([`NodeLink`], which verifies every signed command, answers
//! retransmissions from its cache and keeps events until the gateway
//! acknowledges them) and the [`Controller`] (door, lock and presence
//! supervision), joined once here so that firmware, simulator, fuzz targets
//! and tests are only I/O shells around [`Node`].
//!
//! A shell hands the node raw UART bytes, sensor samples and the time, and
//! carries out what it asks: lock pulses, indicators, flash writes, the
//! answer to put on the bus, a reboot. Two ordering rules live inside the
//! node so that no shell can get them wrong:
//!
//! - **No answer overtakes its counter reservation** (feature `auth`). While
//!   an authentication record (`Action::PersistAuth`) waits for
//!   `Node::persisted`, [`Node::poll_transmit`] yields nothing and
//!   [`Node::poll_action`] nothing else: a power cut can never make the node
//!   accept a signed command again that it already answered.
//! - **The answer leaves before the hardware moves.** While an answer waits
//!   for [`Node::poll_transmit`], `poll_action` yields no lock pulse,
//!   indicator or reboot: the master never times out on a blocking pulse,
//!   and a reboot never swallows its own acknowledgement. A changed
//!   configuration or calibration
//!   ([`controller::Action::Persist`](crate::controller::Action::Persist))
//!   is the exception: it is stored before the gateway is told it is done.
//!
//! Events the controller raises move into the link's acknowledged queue at
//! once, inside the node; a full link queue drops the newest event and
//! counts it, and the count reaches the gateway in every event report.

mod action;
mod error;
#[cfg(feature = "auth")]
mod safekeeping;

use locker_proto::frame::{Authenticated, Decoder, Frame};
use locker_proto::link::{NodeLink, Outgoing};
use locker_proto::{
    Channel, Command, HeldEvents, Instant, LockState, NodeAddr, Report, ResetReason, Temperature,
};

#[cfg(feature = "auth")]
use locker_proto::auth::NodeAuthRecord;

use crate::controller::{ChannelInputs, Controller, ControllerError};

pub use action::Action;
pub use error::NodeError;

#[cfg(feature = "auth")]
use safekeeping::Safekeeping;

/// One compartment node with `CHANNELS` channels and room for `QUEUE`
/// unacknowledged events: decoder, [`NodeLink`] and [`Controller`] in one.
///
/// # Methods
///
/// As quinn-proto's `Connection`, the node has four kinds of methods:
///
/// - **Getters** ([`addr`](Self::addr), [`controller`](Self::controller),
///   [`link`](Self::link), [`bad_frames`](Self::bad_frames),
///   [`queued_events`](Self::queued_events),
///   [`refused_commands`](Self::refused_commands), …, and
///   [`save_controller`](Self::save_controller), which writes the
///   configuration and calibration into a buffer) read state and change
///   nothing.
/// - **`handle_*`** feed an input with the time it happened:
///   [`handle_bytes`](Self::handle_bytes) for raw UART bytes in any chunking
///   (or [`handle_frame`](Self::handle_frame) for a frame a shell decoded
///   itself), the samples [`handle_door_level`](Self::handle_door_level),
///   [`handle_lock_feedback`](Self::handle_lock_feedback),
///   [`handle_presence_reading`](Self::handle_presence_reading),
///   [`handle_temperature`](Self::handle_temperature), and
///   [`handle_timeout`](Self::handle_timeout) when
///   [`poll_timeout`](Self::poll_timeout) says (early calls are harmless).
/// - **Mutators** set what only the cabinet's own inputs and flash may set:
///   [`restore_controller`](Self::restore_controller) and
///   `restore_auth` at start, the provisioning jumper
///   (`set_provisioning`), the maintenance key switch
///   ([`set_maintenance`](Self::set_maintenance)), and the confirmation
///   that an authentication record is stored (`persisted`).
/// - **`poll_*`** hand out what the node wants done; each is `#[must_use]`.
///
/// # Polling order
///
/// After every `handle_*` call (and once at start, after restoring), poll
/// until nothing is left, in this order:
///
/// 1. [`poll_action`](Self::poll_action) until `None`: while an answer
///    waits, only the flash writes it depends on (the authentication record,
///    a changed configuration or calibration);
/// 2. [`poll_transmit`](Self::poll_transmit): the answer for the master, to
///    send at once;
/// 3. if it gave one, [`poll_action`](Self::poll_action) again until `None`:
///    lock pulses, indicators and the reboot, which were held back until the
///    answer had left;
/// 4. [`poll_timeout`](Self::poll_timeout) for when to call
///    [`handle_timeout`](Self::handle_timeout) next.
///
/// Bad input never panics and changes nothing: a corrupt frame is counted in
/// [`bad_frames`](Self::bad_frames) (the master retransmits), a refused
/// command is answered with a typed `Nack` and reported to the gateway as a
/// security event, and a sample for a channel the node does not have is a
/// [`NodeError`].
///
/// # Example
///
/// ```
/// # #[cfg(feature = "auth")] { // counter reservations exist with feature `auth`
/// use locker_domain::controller::{self, Controller};
/// use locker_domain::node::{Action, Node};
/// use locker_proto::frame::{Flags, Frame, Header, MAX_FRAME, Seq, encode};
/// use locker_proto::{Command, FirmwareVersion, Instant, NodeAddr, NodeConfig, Report, ResetReason};
///
/// let boot = Instant::ZERO;
/// let fw = FirmwareVersion::new(1, 0, 0);
/// let controller = Controller::<4>::new(NodeConfig::default().with_presence_threshold(10), fw, ResetReason::PowerOn, boot)?;
/// let mut node = Node::<4, 8>::new(NodeAddr(3), controller);
///
/// // The gateway pings; the UART delivers the frame in two pieces.
/// let ping = Frame {
///     header: Header::new(NodeAddr::GATEWAY, NodeAddr(3), Seq(1), Flags::ACK_WANTED),
///     body: Command::PING,
/// };
/// let mut buf = [0u8; MAX_FRAME];
/// let wire = encode(&ping, &mut buf)?;
/// let (first, second) = wire.split_at(4);
/// let now = Instant::from_millis(20);
/// node.handle_bytes(first, now);
/// node.handle_bytes(second, now);
///
/// // The shell's loop: actions, the answer, actions again.
/// let mut flash = None;
/// let mut answers = Vec::new();
/// loop {
///     while let Some(action) = node.poll_action() {
///         match action {
///             // The counter reservation goes to flash before anything leaves.
///             Action::PersistAuth(record) => {
///                 flash = Some(record.to_bytes());
///                 node.persisted(&record)?;
///             }
///             Action::Controller(controller::Action::PulseLock { .. }) => { /* drive the coil */ }
///             Action::Controller(_) => { /* indicators, configuration page, reset */ }
///             _ => {}
///         }
///     }
///     let Some(answer) = node.poll_transmit() else { break };
///     let mut tx = [0u8; MAX_FRAME];
///     let _bytes_for_the_uart = answer.encode(&mut tx)?;
///     answers.push(answer.frame.body);
/// }
/// assert!(flash.is_some());
/// assert!(matches!(answers.as_slice(), [Report::Pong { uptime_ms: 20, .. }]));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Node<const CHANNELS: usize, const QUEUE: usize> {
    decoder: Decoder,
    link: NodeLink<QUEUE>,
    controller: Controller<CHANNELS>,
    bad_frames: u32,
    #[cfg(feature = "auth")]
    safekeeping: Safekeeping,
}

impl<const CHANNELS: usize, const QUEUE: usize> Node<CHANNELS, QUEUE> {
    /// The most bytes [`save_controller`](Self::save_controller) writes;
    /// size the flash buffer with it.
    pub const SAVED_LEN_MAX: usize = Controller::<CHANNELS>::SAVED_LEN_MAX;

    /// A node at bus address `addr` around a `controller` that has just
    /// started: the link starts with the same reset reason, so the gateway
    /// learns of the restart from its first event poll. Events the
    /// controller already holds follow it into the link's queue with the
    /// first input.
    ///
    /// Built by value: on a small MCU, build it straight into its final
    /// place (a `static`, or the main loop's frame) rather than moving it
    /// around; [`after_reset_with`](Self::after_reset_with) builds the
    /// controller there too.
    ///
    /// With feature `auth` the node holds no key until
    /// `restore_auth`; call it, and
    /// [`restore_controller`](Self::restore_controller), before the first
    /// frame.
    #[inline]
    pub fn new(addr: NodeAddr, controller: Controller<CHANNELS>) -> Self {
        Self::after_reset(addr, controller, None)
    }

    /// As [`new`](Self::new), for a node that kept a record of what its
    /// previous life's event queue held ([`held`](Self::held), saved where
    /// a warm reset does not clear it): the start event carries it, and the
    /// gateway learns exactly how many events the reset lost and scans the
    /// node. `None` when no record survived (a power-on).
    #[inline]
    pub fn after_reset(
        addr: NodeAddr,
        controller: Controller<CHANNELS>,
        held: Option<HeldEvents>,
    ) -> Self {
        Self::after_reset_with(addr, controller.reset_reason(), held, |_| controller)
    }

    /// As [`after_reset`](Self::after_reset), for a node built where it is
    /// to live: the controller is made by `controller`, called with
    /// `reset_reason` (the reason the link's start event reports; build the
    /// controller for it) once everything else is in place.
    ///
    /// Made last, by a function that is not inlined, the controller is
    /// returned straight into the node's place, and the link is built
    /// there by a call of its own: written in the function that owns the
    /// node's storage (the main loop's frame on a small MCU), this
    /// constructor holds no second node, controller or link on the stack,
    /// where [`after_reset`](Self::after_reset), handed a controller
    /// already built, copies it. (A Cortex-M0+ node of four channels: a
    /// 1,800-byte frame on top of the main loop's, gone.)
    ///
    /// ```
    /// use locker_domain::controller::Controller;
    /// use locker_domain::node::Node;
    /// use locker_proto::{FirmwareVersion, Instant, NodeAddr, NodeConfig, ResetReason};
    ///
    /// // Not inlined: it returns the controller into the node's place.
    /// #[inline(never)]
    /// fn controller(reset_reason: ResetReason) -> Controller<4> {
    ///     let fw = FirmwareVersion::new(1, 0, 0);
    ///     Controller::new(NodeConfig::default().with_presence_threshold(10), fw, reset_reason, Instant::ZERO)
    ///         .expect("the default configuration is always accepted")
    /// }
    ///
    /// let node = Node::<4, 8>::after_reset_with(NodeAddr(3), ResetReason::PowerOn, None, controller);
    /// assert_eq!(node.controller().reset_reason(), ResetReason::PowerOn);
    /// assert_eq!(node.queued_events(), 1); // the start event
    /// ```
    #[inline(always)]
    pub fn after_reset_with(
        addr: NodeAddr,
        reset_reason: ResetReason,
        held: Option<HeldEvents>,
        controller: impl FnOnce(ResetReason) -> Controller<CHANNELS>,
    ) -> Self {
        // The fields are evaluated in this order, each into the node's
        // place: a controller made before the link's call would be held
        // apart and copied in after it.
        Node {
            decoder: Decoder::new(),
            link: link_after_reset(addr, reset_reason, held),
            controller: controller(reset_reason),
            bad_frames: 0,
            #[cfg(feature = "auth")]
            safekeeping: Safekeeping::default(),
        }
    }

    /// This node's bus address.
    pub fn addr(&self) -> NodeAddr {
        self.link.addr()
    }

    /// The controller: configuration, channel status, maintenance mode.
    pub fn controller(&self) -> &Controller<CHANNELS> {
        &self.controller
    }

    /// The link layer: key, receive floor, provisioning mode.
    pub fn link(&self) -> &NodeLink<QUEUE> {
        &self.link
    }

    /// Byte runs from the bus that were not a valid frame (CRC, COBS,
    /// length, body) since start, saturating.
    pub fn bad_frames(&self) -> u32 {
        self.bad_frames
    }

    /// Events waiting for the gateway's acknowledgement.
    pub fn queued_events(&self) -> usize {
        self.link.queued_events()
    }

    /// What the link's event queue holds now: keep it over a warm reset
    /// and hand it to [`after_reset`](Self::after_reset) (see
    /// [`NodeLink::held`]).
    pub fn held(&self) -> HeldEvents {
        self.link.held()
    }

    /// Events dropped since start because the link's queue was full
    /// (saturating); the gateway hears the same count.
    pub fn dropped_events(&self) -> u16 {
        self.link.dropped_events()
    }

    /// Commands refused since start: no valid fresh tag, over the unlock
    /// rate limit, or provisioning outside provisioning mode (saturating).
    pub fn refused_commands(&self) -> u32 {
        self.link.refused_commands()
    }

    /// Bytes from the bus, in any chunking: a frame may arrive in pieces and
    /// several frames in one piece. Each good frame is handled as by
    /// [`handle_frame`](Self::handle_frame) with the trailer the decoder
    /// found; each bad one is counted in [`bad_frames`](Self::bad_frames) and
    /// costs neither the frame before nor the frame after it.
    ///
    /// Then poll as the [type docs](Self#polling-order) say.
    pub fn handle_bytes(&mut self, mut bytes: &[u8], now: Instant) {
        // The decoder's two steps apart: its work on the bytes (`fill`) is
        // over before the frame is handled, so none of it lies on the stack
        // under `deliver`.
        while let Some(remaining) = self.decoder.fill(bytes) {
            bytes = remaining;
            match take_frame(&mut self.decoder) {
                Err(_) => self.bad_frames = self.bad_frames.saturating_add(1),
                Ok(frame) => {
                    #[cfg(feature = "auth")]
                    self.safekeeping.retry();
                    let auth = self.decoder.last_authenticated();
                    deliver(&mut self.link, &mut self.controller, &frame, auth, now);
                }
            }
        }
    }

    /// A frame from the bus, decoded by the shell, with its authentication
    /// trailer and the bytes the tag covers if it carried one (the decoder's
    /// [`last_authenticated`](Decoder::last_authenticated)).
    ///
    /// The link decides: a frame for another node, a retransmission (answered
    /// from the cache, never executed twice), a link command (event poll and
    /// acknowledgement, provisioning) or a refusal (no valid fresh tag on a
    /// command that needs one) never reaches the controller; any other
    /// command is executed by the controller now and answered.
    ///
    /// Then poll as the [type docs](Self#polling-order) say.
    pub fn handle_frame(
        &mut self,
        frame: &Frame<Command>,
        auth: Option<Authenticated<'_>>,
        now: Instant,
    ) {
        #[cfg(feature = "auth")]
        self.safekeeping.retry();
        deliver(&mut self.link, &mut self.controller, frame, auth, now);
    }

    /// A raw door switch level (`true` when the door is not shut), debounced
    /// by the controller.
    ///
    /// # Errors
    ///
    /// [`NodeError::Controller`] for a channel the node does not have.
    pub fn handle_door_level(
        &mut self,
        channel: Channel,
        open: bool,
        now: Instant,
    ) -> Result<(), NodeError> {
        self.sample(|controller| controller.handle_door_level(channel, open, now))
    }

    /// A lock feedback reading (`LockState::Unknown` for a lock without a
    /// feedback contact).
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_lock_feedback(
        &mut self,
        channel: Channel,
        state: LockState,
        now: Instant,
    ) -> Result<(), NodeError> {
        self.sample(|controller| controller.handle_lock_feedback(channel, state, now))
    }

    /// A raw presence reading (load cell counts, IR reflectance, beams
    /// interrupted), tared against the channel's calibrated baseline.
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_presence_reading(
        &mut self,
        channel: Channel,
        reading: i32,
        now: Instant,
    ) -> Result<(), NodeError> {
        self.sample(|controller| controller.handle_presence_reading(channel, reading, now))
    }

    /// One sample of all of a channel's inputs at once (door level, lock
    /// contact, presence reading): as the three calls above in that order,
    /// with one check (see [`Controller::handle_inputs`]). A firmware's main
    /// loop makes one call per channel per pass.
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_inputs(
        &mut self,
        channel: Channel,
        inputs: ChannelInputs,
        now: Instant,
    ) -> Result<(), NodeError> {
        self.sample(|controller| controller.handle_inputs(channel, inputs, now))
    }

    /// Factory calibration of every channel's presence sensor at once, from
    /// readings of the empty compartments (see
    /// [`Controller::factory_calibrate`]): on a node fresh from the start,
    /// before any presence reading, it raises no event and needs no room.
    /// The calibration is then offered for storing as
    /// [`Action::Controller`]`(`[`controller::Action::Persist`](crate::controller::Action::Persist)`)`.
    ///
    /// # Errors
    ///
    /// As [`Controller::factory_calibrate`].
    pub fn factory_calibrate(&mut self, empty: [i32; CHANNELS]) -> Result<(), NodeError> {
        self.sample(|controller| controller.factory_calibrate(empty))
    }

    /// The presence sensor of `channel` could not be read (see
    /// [`Controller::handle_presence_failure`]): reported once, until it
    /// reads again.
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_presence_failure(
        &mut self,
        channel: Channel,
        now: Instant,
    ) -> Result<(), NodeError> {
        self.sample(|controller| controller.handle_presence_failure(channel, now))
    }

    /// A temperature reading, reported in the channel's status.
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_temperature(
        &mut self,
        channel: Channel,
        temperature: Temperature,
        now: Instant,
    ) -> Result<(), NodeError> {
        self.sample(|controller| controller.handle_temperature(channel, temperature, now))
    }

    /// Runs every timer due at `now` (debounce, door ajar, jam verdicts),
    /// however many events they raise. Early calls are harmless. Also the
    /// next chance to write an authentication record whose write failed.
    pub fn handle_timeout(&mut self, now: Instant) {
        #[cfg(feature = "auth")]
        self.safekeeping.retry();
        // The controller stops a pass early rather than overflow its own
        // queue; each pass is drained into the link, and a pass always
        // finishes at least one channel, so CHANNELS + 1 passes suffice.
        for _ in 0..=CHANNELS {
            self.controller.handle_timeout(now);
            self.queue_events();
            if self.controller.poll_timeout().is_none_or(|due| due > now) {
                break;
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work, if ever.
    /// Changes after every `handle_*` call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.controller.poll_timeout()
    }

    /// The answer to put on the bus, at once: the master is waiting with the
    /// bus turned around. Encode it with [`Outgoing::encode`], which signs
    /// it when it answers a signed command.
    ///
    /// `None` while an `Action::PersistAuth` waits for `persisted`
    /// (feature `auth`): poll actions first. May change after
    /// [`handle_bytes`](Self::handle_bytes), [`handle_frame`](Self::handle_frame)
    /// and `persisted`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Outgoing<Report>> {
        if !self.has_transmit() {
            return None;
        }
        self.link.poll_outgoing()
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) (or
    /// [`transmit_into`](Self::transmit_into)) would give an answer now.
    #[must_use]
    pub fn has_transmit(&mut self) -> bool {
        #[cfg(feature = "auth")]
        {
            self.safekeeping.collect(&mut self.link);
            if self.safekeeping.is_waiting() {
                return false;
            }
        }
        self.link.has_outgoing()
    }

    /// As [`poll_transmit`](Self::poll_transmit) and [`Outgoing::encode`]
    /// in one: the answer encoded into `out` (at least
    /// [`MAX_FRAME`](locker_proto::MAX_FRAME) bytes) straight from where it
    /// waits, without handing out a copy of it (up to 184 bytes, on a
    /// small node's deepest chain: the answer's tag is computed on top).
    /// `None` when `poll_transmit` gives `None`; the answer is gone
    /// afterwards, encoded or not.
    ///
    /// # Errors
    ///
    /// As [`Outgoing::encode`], inside the `Some`.
    #[must_use]
    pub fn transmit_into<'o>(
        &mut self,
        out: &'o mut [u8],
    ) -> Option<Result<&'o [u8], locker_proto::FrameError>> {
        if !self.has_transmit() {
            return None;
        }
        self.link.encode_outgoing(out)
    }

    /// The next thing to do with the hardware or the flash; call until
    /// `None` after every `handle_*` call and again after
    /// [`poll_transmit`](Self::poll_transmit) gave an answer (see the
    /// [polling order](Self#polling-order)).
    ///
    /// An authentication record to store comes first and alone; then the
    /// controller's flash write; lock pulses, indicators and the reboot wait
    /// until no answer waits.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        #[cfg(feature = "auth")]
        {
            self.safekeeping.collect(&mut self.link);
            if self.safekeeping.is_waiting() {
                return self.safekeeping.offer().map(Action::PersistAuth);
            }
        }
        if self.link.has_outgoing() && !self.controller.has_unsaved_changes() {
            return None;
        }
        self.controller.poll_action().map(Action::Controller)
    }

    /// Enters or leaves maintenance mode, from the key switch inside the
    /// cabinet: the unlock rate limit does not apply while it is on. Never
    /// from the bus.
    pub fn set_maintenance(&mut self, on: bool) {
        self.controller.set_maintenance(on);
    }

    /// Takes back what [`save_controller`](Self::save_controller) wrote
    /// before the restart: configuration and calibration.
    ///
    /// # Errors
    ///
    /// [`NodeError::Controller`] for truncated, blank, foreign, corrupt or
    /// mismatched bytes; the node runs on with what it has.
    pub fn restore_controller(&mut self, bytes: &[u8]) -> Result<(), NodeError> {
        Ok(self.controller.restore(bytes)?)
    }

    /// Writes configuration and calibration into `buf` (at least
    /// [`SAVED_LEN_MAX`](Self::SAVED_LEN_MAX) bytes) and returns the bytes to
    /// store, on [`controller::Action::Persist`](crate::controller::Action::Persist).
    ///
    /// # Errors
    ///
    /// [`NodeError::Controller`] if `buf` is too small.
    pub fn save_controller<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], NodeError> {
        Ok(self.controller.save(buf)?)
    }

    /// Gives a sample to the controller and queues what it raised.
    fn sample(
        &mut self,
        input: impl FnOnce(&mut Controller<CHANNELS>) -> Result<(), ControllerError>,
    ) -> Result<(), NodeError> {
        let result = input(&mut self.controller);
        self.queue_events();
        Ok(result?)
    }

    /// Moves the controller's events into the link's acknowledged queue. A
    /// full queue drops the newest and counts it; the count reaches the
    /// gateway.
    fn queue_events(&mut self) {
        queue_events(&mut self.controller, &mut self.link);
    }
}

#[cfg(feature = "auth")]
#[cfg_attr(docsrs, doc(cfg(feature = "auth")))]
impl<const CHANNELS: usize, const QUEUE: usize> Node<CHANNELS, QUEUE> {
    /// Takes back the stored authentication record at start: the key, and
    /// the reservation below which every counter is refused. The node then
    /// asks ([`Action::PersistAuth`]) for a new reservation before it
    /// answers anything.
    pub fn restore_auth(&mut self, record: NodeAuthRecord) {
        self.link.restore_auth(record);
        self.safekeeping.forget();
    }

    /// The firmware stored the record of the last [`Action::PersistAuth`]:
    /// answers and actions may leave again.
    ///
    /// # Errors
    ///
    /// [`NodeError::AuthRecordNotRequested`] for any other record; nothing is
    /// taken as stored.
    pub fn persisted(&mut self, record: &NodeAuthRecord) -> Result<(), NodeError> {
        if !self.safekeeping.confirm(record) {
            return Err(NodeError::AuthRecordNotRequested);
        }
        self.link.persisted(record);
        Ok(())
    }

    /// Enters or leaves provisioning mode, from a jumper or button on the
    /// node: only then is a new key accepted from the bus.
    pub fn set_provisioning(&mut self, on: bool) {
        self.link.set_provisioning(on);
    }
}

/// [`NodeLink::after_reset`] in a call of its own: the link is returned
/// through a pointer to its place in the node (see
/// [`Node::after_reset_with`]), its start event and queue built in this
/// frame, not in the caller's.
#[inline(never)]
fn link_after_reset<const QUEUE: usize>(
    addr: NodeAddr,
    reset_reason: ResetReason,
    held: Option<HeldEvents>,
) -> NodeLink<QUEUE> {
    NodeLink::after_reset(addr, reset_reason, held)
}

/// The frame whose end the decoder found, checked and decoded
/// ([`Decoder::take`]) in a call of its own: on a Cortex-M0+ node the
/// decoder's spilled registers then stay out of the frame that holds the
/// command while `deliver` runs (72 bytes less stack on that chain, and
/// 200 less flash than `Decoder::feed` inlined).
#[inline(never)]
fn take_frame(decoder: &mut Decoder) -> Result<Frame<Command>, locker_proto::FrameError> {
    decoder.take()
}

/// One frame through the link and, if it carries a new command, the controller.
/// Not inlined: both `handle_bytes` and `handle_frame` call it, and on a
/// Cortex-M0+ node one copy is 344 bytes less flash (and 48 less stack).
#[inline(never)]
fn deliver<const CHANNELS: usize, const QUEUE: usize>(
    link: &mut NodeLink<QUEUE>,
    controller: &mut Controller<CHANNELS>,
    frame: &Frame<Command>,
    auth: Option<Authenticated<'_>>,
    now: Instant,
) {
    // Events the controller held when it was handed over go first, so an
    // event poll sees them.
    queue_events(controller, link);
    if let Some(command) = link.handle_received(frame, auth, now) {
        // The answer is written where it leaves from: no frame on the way
        // holds a report (136 bytes) of its own.
        link.respond_with(|report| controller.answer_command(&command, now, report));
    }
    queue_events(controller, link);
}

fn queue_events<const CHANNELS: usize, const QUEUE: usize>(
    controller: &mut Controller<CHANNELS>,
    link: &mut NodeLink<QUEUE>,
) {
    while let Some(event) = controller.poll_event() {
        // Dropped and counted by the link when full; see `push_event`.
        let _ = link.push_event(event);
    }
}
