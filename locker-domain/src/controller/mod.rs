//! The compartment node controller: one sans-IO state machine for every
//! channel (lock, door switch, presence sensor) of a node.
//!
//! Its caller is [`Node`](crate::node::Node), which joins it to the link
//! layer; firmware talks to the node, not to the controller. The node feeds
//! the controller:
//!
//! - commands that the link layer ([`locker_proto::link::NodeLink`]) handed
//!   out, through [`Controller::handle_command`], and gives the returned
//!   [`Report`] back to the link;
//! - raw samples with the time they were taken: door switch levels
//!   ([`handle_door_level`](Controller::handle_door_level)), lock feedback,
//!   presence readings, temperatures;
//! - [`handle_timeout`](Controller::handle_timeout) when
//!   [`poll_timeout`](Controller::poll_timeout) says (early calls are harmless);
//!
//! and carries its outputs out:
//!
//! - [`poll_action`](Controller::poll_action): pulse a lock, drive an
//!   indicator, persist, reboot;
//! - [`poll_event`](Controller::poll_event): events for the gateway, to push
//!   into the link's acknowledged event queue.
//!
//! # What it decides
//!
//! - **Debounce**: a door level counts once it has held for
//!   [`NodeConfig::debounce_ms`].
//! - **Commanded or forced**: a door opening within [`Tuning::unlock_window`]
//!   of the start of an unlock of that channel is commanded; any other opening
//!   is reported as forced (`Event::DoorOpened { commanded: false }`). One
//!   unlock covers one opening.
//! - **Door ajar**: `Event::DoorAjar` once per opening, when the door has been
//!   open for [`NodeConfig::door_ajar_limit_s`].
//! - **Jammed lock**: a pulsed lock whose feedback never showed `Unlocked` and
//!   whose door did not open raises `FaultCode::LockJammed`.
//! - **Presence**: hysteresis around the calibrated baseline (occupied at the
//!   threshold, empty again at half of it).
//! - **Pulse length**: never above [`NodeConfig::max_pulse_ms`] nor
//!   [`PULSE_CEILING_MS`], whatever the command says; a channel whose lock is
//!   still pulsing answers `Nack(Busy)`.
//! - **Unlock rate**: at most [`Tuning::unlock_limit`] unlocks in any window
//!   (10 a minute by default), whoever sends them and whatever tag they
//!   carry; more are answered `Nack(RateLimited)` and reported as a security
//!   event (`Event::CommandsRefused`). Maintenance mode, which only a
//!   physical input on the node can set ([`Controller::set_maintenance`]),
//!   lifts the limit for staff emptying or testing a node. The link layer
//!   has already refused any unlock without a valid tag (feature `auth`).
//!
//! Configuration and calibration survive a soft reboot through the caller:
//! on [`Action::Persist`] write [`Controller::save`]'s bytes to flash, and
//! after boot hand them to [`Controller::restore`].
//!
//! # Example
//!
//! ```
//! use locker_domain::controller::{Action, Controller};
//! use locker_proto::{Channel, Command, Event, FirmwareVersion, Instant, NodeConfig, Report, ResetReason};
//!
//! let boot = Instant::from_millis(0);
//! let mut node = Controller::<4>::new(NodeConfig::default().with_presence_threshold(10), FirmwareVersion::new(1, 0, 0), ResetReason::PowerOn, boot)?;
//!
//! // The gateway unlocks channel 2 for 300 ms.
//! let t = Instant::from_millis(1_000);
//! let report = node.handle_command(&Command::Unlock { channel: Channel(2), pulse_ms: 300 }, t);
//! assert_eq!(report, Report::Ack);
//! let Some(Action::PulseLock { channel, duration }) = node.poll_action() else { panic!() };
//! assert_eq!((channel, duration.as_millis()), (Channel(2), 300));
//!
//! // The door springs open and the switch holds past the 30 ms debounce.
//! node.handle_door_level(Channel(2), true, Instant::from_millis(1_200))?;
//! node.handle_door_level(Channel(2), true, Instant::from_millis(1_240))?;
//! assert_eq!(node.poll_event(), Some(Event::DoorOpened { channel: Channel(2), commanded: true }));
//! # Ok::<(), locker_domain::controller::ControllerError>(())
//! ```

mod action;
mod channel;
mod config;
mod door;
mod error;
mod lock;
mod persist;
mod presence;

use locker_proto::{
    BulkStatus, Channel, ChannelBits, ChannelStatus, Command, DoorState, Event, FaultCode,
    FirmwareVersion, Instant, LockState, MAX_CHANNELS, NackReason, NodeConfig, ProtocolVersions,
    RebootKind, Report, ResetReason, Temperature,
};

pub use action::{Action, PulseDuration};
pub(crate) use config::validate;
pub use config::{
    CheckedConfig, ConfigProblem, DEBOUNCE_CEILING_MS, MAX_UNLOCKS_PER_WINDOW, PULSE_CEILING_MS,
    Tuning, UnlockLimit,
};
pub use error::ControllerError;

/// One sample of a channel's inputs, for [`Controller::handle_inputs`]
/// (and `Node::handle_inputs`): what a firmware reads from the channel's
/// pins or drivers on every pass of its main loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelInputs {
    /// The door switch's raw level: `true` when it reads open (the
    /// controller debounces).
    pub door_open: bool,
    /// The lock contact (`LockState::Unknown` for a lock without one, which
    /// disables jam detection on the channel).
    pub lock: LockState,
    /// The raw presence reading (load cell counts, IR reflectance, beams
    /// interrupted), tared against the channel's calibrated baseline.
    pub presence: i32,
}
pub(crate) use presence::{occupied_after, release_level};

use channel::{ChannelState, EVENTS_PER_SAMPLE, EVENTS_PER_STEP, EventQueue, Timing, emit};

/// How many events the controller holds before the firmware drains
/// [`Controller::poll_event`]. Inputs that could overflow it are refused with
/// [`ControllerError::EventQueueFull`] and change nothing.
pub const EVENT_QUEUE: usize = 8;

/// The unlock log's ring: [`MAX_UNLOCKS_PER_WINDOW`] unlocks.
const UNLOCK_LOG: usize = MAX_UNLOCKS_PER_WINDOW as usize;
const _: () = assert!(UNLOCK_LOG.is_power_of_two());

/// The state machine of one compartment node with `CHANNELS` channels
/// (1 to [`MAX_CHANNELS`], checked at compile time).
///
/// See the [module documentation](self) for the calling pattern.
#[derive(Debug)]
pub struct Controller<const CHANNELS: usize> {
    config: NodeConfig,
    timing: Timing,
    firmware: FirmwareVersion,
    reset_reason: ResetReason,
    started_at: Instant,
    channels: [ChannelState; CHANNELS],
    events: EventQueue<EVENT_QUEUE>,
    lost_events: u16,
    persist: bool,
    reboot: Option<RebootKind>,
    /// The last unlocks: a ring of [`MAX_UNLOCKS_PER_WINDOW`], the newest
    /// just before `unlocks_next`; `unlocks_logged` of them are real (at most
    /// the ring's size).
    unlocks: [Instant; UNLOCK_LOG],
    unlocks_next: u8,
    unlocks_logged: u8,
    maintenance: bool,
}

impl<const CHANNELS: usize> Controller<CHANNELS> {
    /// The most bytes [`save`](Self::save) writes; size the persist buffer with it.
    pub const SAVED_LEN_MAX: usize = persist::saved_len_max(CHANNELS);

    /// A controller that booted at `now` for `reset_reason`, with every door
    /// believed closed, every lock without feedback yet, and every presence
    /// baseline at zero until [`restore`](Self::restore) or a calibration.
    ///
    /// # Errors
    ///
    /// [`ControllerError::InvalidConfig`] if `config` is out of range (see
    /// [`ConfigProblem`]), [`NodeConfig::default`] included: it has no
    /// presence threshold, whose units only the sensor knows
    /// ([`ConfigProblem::ThresholdNotPositive`]); give one with
    /// [`NodeConfig::with_presence_threshold`].
    pub fn new(
        config: NodeConfig,
        firmware: FirmwareVersion,
        reset_reason: ResetReason,
        now: Instant,
    ) -> Result<Self, ControllerError> {
        config::validate(&config).map_err(ControllerError::InvalidConfig)?;
        Ok(Self::built(config, firmware, reset_reason, now))
    }

    /// As [`new`](Self::new), for a configuration checked already (at build
    /// time, in a `const`): nothing to refuse, so no `Result` to unwrap.
    ///
    /// ```
    /// use locker_domain::controller::{CheckedConfig, Controller};
    /// use locker_proto::{FirmwareVersion, Instant, NodeConfig, ResetReason};
    ///
    /// const CONFIG: CheckedConfig = match CheckedConfig::new(NodeConfig {
    ///     debounce_ms: 30,
    ///     door_ajar_limit_s: 60,
    ///     presence_threshold: 10,
    ///     max_pulse_ms: 1_000,
    /// }) {
    ///     Ok(config) => config,
    ///     Err(_) => panic!("the built-in configuration"),
    /// };
    /// let fw = FirmwareVersion::new(1, 0, 0);
    /// let node = Controller::<4>::with_checked_config(CONFIG, fw, ResetReason::PowerOn, Instant::ZERO);
    /// assert_eq!(node.config(), CONFIG.get());
    /// ```
    pub fn with_checked_config(
        config: CheckedConfig,
        firmware: FirmwareVersion,
        reset_reason: ResetReason,
        now: Instant,
    ) -> Self {
        Self::built(*config.get(), firmware, reset_reason, now)
    }

    /// The controller of a configuration that was checked.
    #[inline(always)]
    fn built(
        config: NodeConfig,
        firmware: FirmwareVersion,
        reset_reason: ResetReason,
        now: Instant,
    ) -> Self {
        const {
            assert!(
                CHANNELS >= 1 && CHANNELS <= MAX_CHANNELS,
                "a node has 1 to 32 channels"
            )
        };
        Controller {
            config,
            timing: Timing::new(&config, Tuning::default()),
            firmware,
            reset_reason,
            started_at: now,
            channels: [const { ChannelState::new() }; CHANNELS],
            events: EventQueue::new(),
            lost_events: 0,
            persist: false,
            reboot: None,
            unlocks: [Instant::ZERO; UNLOCK_LOG],
            unlocks_next: 0,
            unlocks_logged: 0,
            maintenance: false,
        }
    }

    /// The same controller with firmware-fixed timing other than the default.
    #[must_use]
    pub fn with_tuning(mut self, tuning: Tuning) -> Self {
        self.timing = Timing::new(&self.config, tuning);
        self
    }

    /// Why the node last started, as [`Command::Ping`] reports it.
    pub const fn reset_reason(&self) -> ResetReason {
        self.reset_reason
    }

    /// The configuration in force.
    pub const fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The status of one channel, as [`Command::GetStatus`] reports it.
    ///
    /// # Errors
    ///
    /// [`ControllerError::UnknownChannel`] for a channel the node does not have.
    pub fn channel_status(&self, channel: Channel) -> Result<ChannelStatus, ControllerError> {
        let state = self
            .channels
            .get(channel.index())
            .ok_or(self.unknown(channel))?;
        Ok(state.status(channel, &self.config))
    }

    /// The empty baseline of one channel's presence sensor, in the sensor's
    /// raw units: the reading its last calibration took (or the one
    /// restored from flash), against which every reading is tared. A
    /// diagnostic: what the node holds as empty, to compare with the cell.
    ///
    /// # Errors
    ///
    /// [`ControllerError::UnknownChannel`] for a channel the node does not have.
    pub fn presence_baseline(&self, channel: Channel) -> Result<i32, ControllerError> {
        let state = self
            .channels
            .get(channel.index())
            .ok_or(self.unknown(channel))?;
        Ok(state.presence.baseline())
    }

    /// Factory calibration: takes `empty[c]`, a reading of channel `c`'s
    /// presence sensor with its compartment empty, as that channel's baseline
    /// (in the sensor's raw units, such as the value a driver's
    /// `PresenceSensor::calibrate_empty` returns), for every channel at once,
    /// and asks for the calibration to be stored ([`Action::Persist`]).
    ///
    /// Made for the bench, on a controller fresh from [`new`](Self::new),
    /// before any presence reading: then it needs no room in the event queue
    /// and raises no event, so no "item found" from an uncalibrated load
    /// cell's offset ever reaches a gateway. On a running controller, a
    /// channel that had read occupied is told empty again
    /// ([`Event::PresenceChanged`]), as a remote calibration would tell it.
    ///
    /// ```
    /// use locker_domain::controller::{Action, Controller};
    /// use locker_proto::{Channel, FirmwareVersion, Instant, NodeConfig, ResetReason};
    ///
    /// let t0 = Instant::from_millis(0);
    /// let config = NodeConfig { presence_threshold: 2_100, ..NodeConfig::default() };
    /// let mut node = Controller::<4>::new(config, FirmwareVersion::new(1, 0, 0), ResetReason::PowerOn, t0).unwrap();
    /// // Four HX711 load cells, empty, read their offsets (raw counts).
    /// node.factory_calibrate([812_340, -95_210, 401_007, 7_880]).unwrap();
    /// assert_eq!(node.poll_event(), None);
    /// assert_eq!(node.poll_action(), Some(Action::Persist));
    /// // In service, an empty compartment reads empty, and a parcel is seen.
    /// node.handle_presence_reading(Channel(0), 812_400, t0).unwrap();
    /// assert_eq!(node.poll_event(), None);
    /// node.handle_presence_reading(Channel(0), 812_340 + 50_000, t0).unwrap();
    /// assert!(node.poll_event().is_some());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ControllerError::EventQueueFull`] when channels that read occupied
    /// need telling and the queue has no room for them; nothing changed.
    pub fn factory_calibrate(&mut self, empty: [i32; CHANNELS]) -> Result<(), ControllerError> {
        let threshold = self.config.presence_threshold;
        let to_tell = self
            .channels
            .iter()
            .filter(|state| state.presence.decision(threshold).occupied)
            .count();
        if self.room() < to_tell {
            return Err(ControllerError::EventQueueFull);
        }
        for ((channel, state), reading) in (0u8..).map(Channel).zip(&mut self.channels).zip(empty) {
            state.retare(
                channel,
                reading,
                threshold,
                &mut self.events,
                &mut self.lost_events,
            );
        }
        self.persist = true;
        Ok(())
    }

    /// Executes a command the link layer handed out and returns the answer to
    /// give back to the link. Never fails: refusals are `Report::Nack`.
    ///
    /// `PollEvents` and `AckEvents` belong to the link and are answered
    /// `Nack(Unsupported)` here, as is any command this firmware does not know.
    pub fn handle_command(&mut self, command: &Command, now: Instant) -> Report {
        let mut report = Report::Ack;
        self.answer_command(command, now, &mut report);
        report
    }

    /// As [`handle_command`](Self::handle_command), the answer written into
    /// `report` (the link's outgoing slot, through
    /// [`NodeLink::respond_with`](locker_proto::link::NodeLink::respond_with)):
    /// each answer is written where it leaves from, and no frame holds a
    /// report of its own. Not inlined: its locals are then off the frame
    /// that checks the tag (on a Cortex-M0+ node, 48 bytes less under the
    /// HMAC).
    #[inline(never)]
    pub(crate) fn answer_command(&mut self, command: &Command, now: Instant, report: &mut Report) {
        let refused = match *command {
            // The master's versions need no check here: it picks the
            // version from this answer (spec/versioning.md §4.1).
            Command::Ping { .. } => {
                *report = Report::Pong {
                    firmware: self.firmware,
                    uptime_ms: u32::try_from(now.saturating_since(self.started_at).as_millis())
                        .unwrap_or(u32::MAX),
                    reset_reason: self.reset_reason,
                    versions: ProtocolVersions::BUS,
                };
                return;
            }
            Command::GetStatus { channel } => match self.channel_status(channel) {
                Ok(status) => {
                    *report = Report::Status(status);
                    return;
                }
                Err(_) => Err(NackReason::UnknownChannel),
            },
            Command::GetAllStatus => {
                *report = Report::BulkStatus(self.bulk_status());
                return;
            }
            Command::Unlock { channel, pulse_ms } => self.unlock(channel, pulse_ms, now),
            Command::SetIndicator { channel, indicator } => {
                match self.channels.get_mut(channel.index()) {
                    Some(state) => {
                        state.pending_indicator = Some(indicator);
                        Ok(())
                    }
                    None => Err(NackReason::UnknownChannel),
                }
            }
            Command::Calibrate { channel } => self.calibrate(channel),
            Command::Configure(config) => self.configure(config),
            Command::Reboot { kind } => {
                self.reboot = Some(kind);
                Ok(())
            }
            _ => Err(NackReason::Unsupported),
        };
        match refused {
            Ok(()) => *report = Report::Ack,
            Err(reason) => *report = Report::Nack(reason),
        }
    }

    /// Enters or leaves maintenance mode, from a physical input on the node
    /// (a key switch inside the cabinet): the unlock rate limit does not
    /// apply while it is on. Never from the bus.
    pub fn set_maintenance(&mut self, on: bool) {
        self.maintenance = on;
    }

    /// Whether maintenance mode is on.
    pub const fn is_maintenance(&self) -> bool {
        self.maintenance
    }

    /// Whether one more unlock at `now` stays within the rate limit: fewer
    /// than `max` unlocks in the window, that is, the `max`-th most recent
    /// unlock (if there was one) at least a window ago.
    fn unlock_allowed(&self, now: Instant) -> bool {
        let limit = self.timing.tuning.unlock_limit;
        let max = limit.max();
        if self.maintenance || self.unlocks_logged < max {
            return true;
        }
        // `max` is 1 to UNLOCK_LOG, and UNLOCK_LOG a power of two.
        let oldest = usize::from(self.unlocks_next).wrapping_sub(usize::from(max)) % UNLOCK_LOG;
        self.unlocks
            .get(oldest)
            .is_none_or(|at| now.saturating_since(*at) >= limit.per())
    }

    /// Logs an unlock at `now` in the ring, over the oldest.
    fn log_unlock(&mut self, now: Instant) {
        if let Some(slot) = self.unlocks.get_mut(usize::from(self.unlocks_next)) {
            *slot = now;
        }
        self.unlocks_next = ((usize::from(self.unlocks_next) + 1) % UNLOCK_LOG) as u8;
        self.unlocks_logged = self.unlocks_logged.saturating_add(1).min(UNLOCK_LOG as u8);
    }

    fn unlock(&mut self, channel: Channel, pulse_ms: u16, now: Instant) -> Result<(), NackReason> {
        let (max_ms, tuning) = (self.config.max_pulse_ms, self.timing.tuning);
        let Some(state) = self.channels.get(channel.index()) else {
            return Err(NackReason::UnknownChannel);
        };
        if pulse_ms == 0 {
            // A zero pulse releases nothing; acknowledging it would tell the
            // gateway a door is open for a courier when it is not.
            return Err(NackReason::NotPermitted);
        }
        if state.lock.is_pulsing(now) || state.pending_pulse.is_some() {
            return Err(NackReason::Busy);
        }
        if !self.unlock_allowed(now) {
            emit(
                &mut self.events,
                &mut self.lost_events,
                Event::CommandsRefused {
                    refused: 1,
                    reason: NackReason::RateLimited,
                },
            );
            return Err(NackReason::RateLimited);
        }
        // In maintenance mode too: the log keeps the most recent unlocks.
        self.log_unlock(now);
        let Some(state) = self.channels.get_mut(channel.index()) else {
            return Err(NackReason::UnknownChannel);
        };
        let duration = PulseDuration::clamped(pulse_ms, max_ms);
        state.lock.start_pulse(duration, now, &tuning);
        state.pending_pulse = Some(duration);
        Ok(())
    }

    fn calibrate(&mut self, channel: Channel) -> Result<(), NackReason> {
        let threshold = self.config.presence_threshold;
        let room = self.room();
        let Some(state) = self.channels.get_mut(channel.index()) else {
            return Err(NackReason::UnknownChannel);
        };
        if !state.presence.has_reading() {
            return Err(NackReason::NotPermitted);
        }
        if room == 0 {
            return Err(NackReason::Busy);
        }
        if let Some(raw) = state.presence.last_reading() {
            state.retare(
                channel,
                raw,
                threshold,
                &mut self.events,
                &mut self.lost_events,
            );
        }
        self.persist = true;
        Ok(())
    }

    fn configure(&mut self, config: NodeConfig) -> Result<(), NackReason> {
        if config::validate(&config).is_err() {
            return Err(NackReason::InvalidConfig);
        }
        self.config = config;
        self.timing = Timing::new(&config, self.timing.tuning);
        // A pulse accepted but not yet driven obeys the new, possibly lower, maximum.
        for state in &mut self.channels {
            if let Some(pulse) = state.pending_pulse.as_mut() {
                *pulse = PulseDuration::clamped(pulse.as_millis(), config.max_pulse_ms);
            }
        }
        self.persist = true;
        Ok(())
    }

    fn bulk_status(&self) -> BulkStatus {
        let mut bulk = BulkStatus {
            channels: CHANNELS as u8, // at most MAX_CHANNELS, checked in `new`
            door_open: ChannelBits::default(),
            locked: ChannelBits::default(),
            occupied: ChannelBits::default(),
            faulted: ChannelBits::default(),
        };
        for (channel, state) in self.numbered() {
            bulk.door_open
                .set(channel, state.door.state() == DoorState::Open);
            bulk.locked
                .set(channel, state.lock.feedback() == LockState::Locked);
            bulk.occupied.set(
                channel,
                state
                    .presence
                    .decision(self.config.presence_threshold)
                    .occupied,
            );
            bulk.faulted.set(channel, state.fault().is_some());
        }
        bulk
    }

    /// Takes a raw door switch level (`open` = the switch reads "door open"),
    /// sampled at `now`. Debounced inside: sample as often as the loop runs.
    ///
    /// # Errors
    ///
    /// [`ControllerError::UnknownChannel`]; [`ControllerError::EventQueueFull`]
    /// when [`poll_event`](Self::poll_event) needs draining first. Either way
    /// nothing changed.
    pub fn handle_door_level(
        &mut self,
        channel: Channel,
        open: bool,
        now: Instant,
    ) -> Result<(), ControllerError> {
        self.check_ready(channel, EVENTS_PER_STEP)?;
        let timing = self.timing;
        if let Some(state) = self.channels.get_mut(channel.index()) {
            state.door_level(
                channel,
                open,
                now,
                &timing,
                &mut self.events,
                &mut self.lost_events,
            );
        }
        Ok(())
    }

    /// Takes a lock feedback reading (`LockState::Unknown` for a lock without
    /// a feedback contact, which disables jam detection on that channel).
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_lock_feedback(
        &mut self,
        channel: Channel,
        state: LockState,
        _now: Instant,
    ) -> Result<(), ControllerError> {
        self.check_ready(channel, EVENTS_PER_STEP)?;
        if let Some(slot) = self.channels.get_mut(channel.index()) {
            slot.lock_feedback(channel, state, &mut self.events, &mut self.lost_events);
        }
        Ok(())
    }

    /// Takes a raw presence reading (load cell counts, IR reflectance, or 0/1
    /// for a break beam). It is tared against the channel's calibrated
    /// baseline and compared with hysteresis; a change of decision becomes an
    /// `Event::PresenceChanged`.
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_presence_reading(
        &mut self,
        channel: Channel,
        reading: i32,
        _now: Instant,
    ) -> Result<(), ControllerError> {
        let threshold = self.config.presence_threshold;
        self.check_ready(channel, EVENTS_PER_STEP)?;
        if let Some(state) = self.channels.get_mut(channel.index()) {
            state.presence_reading(
                channel,
                reading,
                threshold,
                &mut self.events,
                &mut self.lost_events,
            );
        }
        Ok(())
    }

    /// The presence sensor of `channel` could not be read (its driver
    /// returned an error): raises [`FaultCode::PresenceSensorFailed`] for the
    /// channel once (`Event::FaultRaised`; the channel's status does not
    /// carry it) until a
    /// reading arrives again (`Event::FaultCleared`). The presence decision
    /// stays what it was: a sensor that cannot be read says nothing about
    /// the compartment, and it never turns a parcel into an empty
    /// compartment.
    ///
    /// ```
    /// use locker_domain::controller::Controller;
    /// use locker_proto::{Channel, Event, FaultCode, FirmwareVersion, Instant, NodeConfig, ResetReason};
    ///
    /// let t0 = Instant::from_millis(0);
    /// let mut node = Controller::<4>::new(NodeConfig::default().with_presence_threshold(10), FirmwareVersion::new(1, 0, 0), ResetReason::PowerOn, t0).unwrap();
    /// node.handle_presence_failure(Channel(2), t0).unwrap();
    /// node.handle_presence_failure(Channel(2), t0).unwrap();
    /// assert_eq!(
    ///     node.poll_event(),
    ///     Some(Event::FaultRaised { channel: Some(Channel(2)), fault: FaultCode::PresenceSensorFailed })
    /// );
    /// assert_eq!(node.poll_event(), None, "once");
    /// // It reads again: cleared.
    /// node.handle_presence_reading(Channel(2), 0, t0).unwrap();
    /// assert_eq!(
    ///     node.poll_event(),
    ///     Some(Event::FaultCleared { channel: Some(Channel(2)), fault: FaultCode::PresenceSensorFailed })
    /// );
    /// ```
    ///
    /// # Errors
    ///
    /// As [`handle_door_level`](Self::handle_door_level).
    pub fn handle_presence_failure(
        &mut self,
        channel: Channel,
        _now: Instant,
    ) -> Result<(), ControllerError> {
        self.check_ready(channel, EVENTS_PER_STEP)?;
        if let Some(state) = self.channels.get_mut(channel.index()) {
            state.presence_failure(channel, &mut self.events, &mut self.lost_events);
        }
        Ok(())
    }

    /// Takes one sample of all of a channel's inputs at once: the door
    /// level, the lock contact and the presence reading, exactly as
    /// [`handle_door_level`](Self::handle_door_level),
    /// [`handle_lock_feedback`](Self::handle_lock_feedback) and
    /// [`handle_presence_reading`](Self::handle_presence_reading) would in
    /// that order, with one check for the channel and for room. A firmware's
    /// main loop makes one call per channel per pass.
    ///
    /// ```
    /// use locker_domain::controller::{ChannelInputs, Controller};
    /// use locker_proto::{Channel, Event, FirmwareVersion, Instant, LockState, NodeConfig, ResetReason};
    ///
    /// let t0 = Instant::from_millis(0);
    /// let mut controller = Controller::<4>::new(
    ///     NodeConfig::default().with_presence_threshold(10), FirmwareVersion::new(1, 0, 0), ResetReason::PowerOn, t0,
    /// ).unwrap();
    /// // A parcel (a reading well above the threshold) behind a shut door.
    /// let inputs = ChannelInputs { door_open: false, lock: LockState::Locked, presence: 500 };
    /// controller.handle_inputs(Channel(1), inputs, t0).unwrap();
    /// assert!(matches!(
    ///     controller.poll_event(),
    ///     Some(Event::PresenceChanged { channel: Channel(1), presence }) if presence.occupied
    /// ));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ControllerError::UnknownChannel`]; [`ControllerError::EventQueueFull`]
    /// unless the queue has room for the four events one sample can raise
    /// (drain [`poll_event`](Self::poll_event) first). Either way nothing
    /// changed.
    pub fn handle_inputs(
        &mut self,
        channel: Channel,
        inputs: ChannelInputs,
        now: Instant,
    ) -> Result<(), ControllerError> {
        self.check_ready(channel, EVENTS_PER_SAMPLE)?;
        let (timing, threshold) = (self.timing, self.config.presence_threshold);
        if let Some(state) = self.channels.get_mut(channel.index()) {
            let (events, lost) = (&mut self.events, &mut self.lost_events);
            state.door_level(channel, inputs.door_open, now, &timing, events, lost);
            state.lock_feedback(channel, inputs.lock, events, lost);
            state.presence_reading(channel, inputs.presence, threshold, events, lost);
        }
        Ok(())
    }

    /// Takes a temperature reading; it is reported in the channel's status.
    ///
    /// # Errors
    ///
    /// [`ControllerError::UnknownChannel`].
    pub fn handle_temperature(
        &mut self,
        channel: Channel,
        temperature: Temperature,
        _now: Instant,
    ) -> Result<(), ControllerError> {
        let unknown = self.unknown(channel);
        self.channels
            .get_mut(channel.index())
            .ok_or(unknown)?
            .temperature = Some(temperature);
        Ok(())
    }

    /// Runs every timer that is due at `now`: debounce, door ajar, jam verdicts.
    ///
    /// Stops early rather than overflow the event queue; the unfinished timers
    /// stay due, so drain [`poll_event`](Self::poll_event) and call again while
    /// [`poll_timeout`](Self::poll_timeout) is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timing = self.timing;
        for (index, state) in self.channels.iter_mut().enumerate() {
            if EVENT_QUEUE - self.events.len() < EVENTS_PER_STEP {
                break;
            }
            let channel = Channel(index as u8); // index < CHANNELS <= 32
            state.step(
                channel,
                now,
                &timing,
                &mut self.events,
                &mut self.lost_events,
            );
        }
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.channels
            .iter()
            .filter_map(|state| state.deadline(&self.timing))
            .min()
    }

    /// Whether the next [`poll_action`](Self::poll_action) is
    /// [`Action::Persist`]: configuration or calibration changed and is not
    /// yet handed out to be stored.
    pub const fn has_unsaved_changes(&self) -> bool {
        self.persist
    }

    /// The next thing to do with the hardware. Call until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        if core::mem::take(&mut self.persist) {
            return Some(Action::Persist);
        }
        for (channel, state) in self.channels.iter_mut().enumerate() {
            let channel = Channel(channel as u8); // index < CHANNELS <= 32
            if let Some(duration) = state.pending_pulse.take() {
                return Some(Action::PulseLock { channel, duration });
            }
            if let Some(indicator) = state.pending_indicator.take() {
                return Some(Action::SetIndicator { channel, indicator });
            }
        }
        self.reboot.take().map(Action::Reboot)
    }

    /// The next event for the gateway, oldest first; push it into the link's
    /// event queue. Call until `None` after every input.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        (core::mem::take(&mut self.lost_events) > 0).then_some(Event::FaultRaised {
            channel: None,
            fault: FaultCode::EventsDropped,
        })
    }

    /// Writes configuration and calibration into `buf` (at least
    /// [`SAVED_LEN_MAX`](Self::SAVED_LEN_MAX) bytes) and returns the bytes to store.
    ///
    /// ```
    /// use locker_domain::controller::Controller;
    /// use locker_proto::{FirmwareVersion, Instant, NodeConfig, ResetReason};
    ///
    /// let fw = FirmwareVersion::new(1, 0, 0);
    /// let node = Controller::<8>::new(NodeConfig::default().with_presence_threshold(10), fw, ResetReason::PowerOn, Instant::ZERO)?;
    /// let mut flash = [0u8; Controller::<8>::SAVED_LEN_MAX];
    /// let saved = node.save(&mut flash)?;
    ///
    /// let mut rebooted = Controller::<8>::new(NodeConfig::default().with_presence_threshold(10), fw, ResetReason::SoftReboot, Instant::ZERO)?;
    /// rebooted.restore(saved)?;
    /// # Ok::<(), locker_domain::controller::ControllerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ControllerError::BufferTooSmall`].
    pub fn save<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], ControllerError> {
        let mut baselines = [0i32; CHANNELS];
        for (baseline, state) in baselines.iter_mut().zip(&self.channels) {
            *baseline = state.presence.baseline();
        }
        persist::save(&self.config, &baselines, buf)
    }

    /// Takes back what [`save`](Self::save) wrote before a reboot.
    ///
    /// # Errors
    ///
    /// Truncated, blank, foreign, corrupt or mismatched bytes give a typed
    /// error and change nothing: the node runs on with what it has.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), ControllerError> {
        let (config, baselines) = persist::restore::<CHANNELS>(bytes)?;
        self.config = config;
        self.timing = Timing::new(&config, self.timing.tuning);
        for (state, baseline) in self.channels.iter_mut().zip(baselines) {
            state.presence.set_baseline(baseline);
        }
        Ok(())
    }

    fn room(&self) -> usize {
        EVENT_QUEUE - self.events.len()
    }

    fn unknown(&self, channel: Channel) -> ControllerError {
        ControllerError::UnknownChannel {
            channel,
            channels: CHANNELS as u8,
        }
    }

    /// Checks that `channel` exists and that the event queue has room for
    /// anything one input could emit.
    /// Whether `channel` exists and the queue has room for `events`.
    fn check_ready(&self, channel: Channel, events: usize) -> Result<(), ControllerError> {
        if channel.index() >= CHANNELS {
            // Before a full queue: an unknown channel will not go away by draining.
            Err(self.unknown(channel))
        } else if self.room() < events {
            Err(ControllerError::EventQueueFull)
        } else {
            Ok(())
        }
    }

    fn numbered(&self) -> impl Iterator<Item = (Channel, &ChannelState)> {
        self.channels
            .iter()
            .enumerate()
            .map(|(i, state)| (Channel(i as u8), state))
    }
}
