//! One compartment as its node sees it: door, lock, presence sensor,
//! temperature, and the actuator requests not yet handed to the firmware.

use heapless::Deque;
use locker_proto::{
    Channel, ChannelStatus, Duration, Event, FaultCode, Indicator, Instant, LockState, NodeConfig,
    Temperature,
};

use super::action::PulseDuration;
use super::config::Tuning;
use super::door::{DoorChange, DoorSwitch, earliest};
use super::lock::{JamChange, LockSupervisor};
use super::presence::PresenceFilter;

/// The most events one channel can emit from one input or one timeout step:
/// a door change, door ajar, and a jam change.
pub(crate) const EVENTS_PER_STEP: usize = 3;

/// The most events one channel can emit from one sample of all its inputs
/// ([`Controller::handle_inputs`](super::Controller::handle_inputs)): a
/// door opening with a jam cleared, a jam change from the lock contact, and
/// a presence sensor that reads again with a presence change.
pub(crate) const EVENTS_PER_SAMPLE: usize = 5;

/// Everything the controller knows about one channel.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelState {
    pub(crate) door: DoorSwitch,
    pub(crate) lock: LockSupervisor,
    pub(crate) presence: PresenceFilter,
    pub(crate) temperature: Option<Temperature>,
    pub(crate) pending_pulse: Option<PulseDuration>,
    pub(crate) pending_indicator: Option<Indicator>,
}

/// Durations derived from the node configuration, in the controller's units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) debounce: Duration,
    pub(crate) ajar_limit: Duration,
    pub(crate) tuning: Tuning,
}

impl Timing {
    pub(crate) fn new(config: &NodeConfig, tuning: Tuning) -> Self {
        Timing {
            debounce: Duration::from_millis(u64::from(config.debounce_ms)),
            // In 32 bits (a u16 of seconds is at most 65,535,000 ms): no
            // 64-bit multiplication, which a Cortex-M0 does in software.
            ajar_limit: Duration::from_millis(u64::from(
                u32::from(config.door_ajar_limit_s) * 1000,
            )),
            tuning,
        }
    }
}

/// Events waiting for the firmware. The controller checks for room before it
/// changes any state, so a push never fails; the count is a last line of
/// defence, reported as [`FaultCode::EventsDropped`].
pub(crate) type EventQueue<const N: usize> = Deque<Event, N>;

pub(crate) fn emit<const N: usize>(events: &mut EventQueue<N>, lost: &mut u16, event: Event) {
    if events.push_back(event).is_err() {
        *lost = lost.saturating_add(1);
    }
}

impl ChannelState {
    pub(crate) const fn new() -> Self {
        ChannelState {
            door: DoorSwitch::new(),
            lock: LockSupervisor::new(),
            presence: PresenceFilter::new(),
            temperature: None,
            pending_pulse: None,
            pending_indicator: None,
        }
    }

    /// Turns a debounced door change into events.
    pub(crate) fn door_changed<const N: usize>(
        &mut self,
        channel: Channel,
        change: DoorChange,
        timing: &Timing,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        match change {
            DoorChange::Opened { at } => {
                let (commanded, jam) = self.lock.door_opened(at, timing.tuning.unlock_window);
                emit(events, lost, Event::DoorOpened { channel, commanded });
                if let Some(jam) = jam {
                    emit(events, lost, jam_event(channel, jam));
                }
            }
            DoorChange::Closed => emit(events, lost, Event::DoorClosed { channel }),
        }
    }

    /// A raw door level: debounced, and a settled change reported.
    pub(crate) fn door_level<const N: usize>(
        &mut self,
        channel: Channel,
        open: bool,
        now: Instant,
        timing: &Timing,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        if let Some(change) = self.door.sample(open, now, timing.debounce) {
            self.door_changed(channel, change, timing, events, lost);
        }
    }

    /// A lock contact reading: a jam that appears or clears is reported.
    pub(crate) fn lock_feedback<const N: usize>(
        &mut self,
        channel: Channel,
        state: LockState,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        if let Some(jam) = self.lock.observe(state) {
            emit(events, lost, jam_event(channel, jam));
        }
    }

    /// A raw presence reading: a sensor that reads again after failing,
    /// and a change of decision, are reported.
    pub(crate) fn presence_reading<const N: usize>(
        &mut self,
        channel: Channel,
        reading: i32,
        threshold: i32,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        if self.presence.recover() {
            let (channel, fault) = (Some(channel), FaultCode::PresenceSensorFailed);
            emit(events, lost, Event::FaultCleared { channel, fault });
        }
        if let Some(presence) = self.presence.sample(reading, threshold) {
            emit(events, lost, Event::PresenceChanged { channel, presence });
        }
    }

    /// Takes `empty` as the presence sensor's empty reading (see
    /// `PresenceFilter::take_empty`); a compartment that had read occupied
    /// is reported empty.
    pub(crate) fn retare<const N: usize>(
        &mut self,
        channel: Channel,
        empty: i32,
        threshold: i32,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        if let Some(presence) = self.presence.take_empty(empty, threshold) {
            emit(events, lost, Event::PresenceChanged { channel, presence });
        }
    }

    /// The presence sensor could not be read: reported once, until it reads
    /// again; the decision stays as it was.
    pub(crate) fn presence_failure<const N: usize>(
        &mut self,
        channel: Channel,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        if self.presence.fail() {
            let (channel, fault) = (Some(channel), FaultCode::PresenceSensorFailed);
            emit(events, lost, Event::FaultRaised { channel, fault });
        }
    }

    /// Runs every timer of this channel that is due.
    pub(crate) fn step<const N: usize>(
        &mut self,
        channel: Channel,
        now: Instant,
        timing: &Timing,
        events: &mut EventQueue<N>,
        lost: &mut u16,
    ) {
        if let Some(change) = self.door.settle(now, timing.debounce) {
            self.door_changed(channel, change, timing, events, lost);
        }
        if self.door.ajar_due(now, timing.ajar_limit) {
            emit(events, lost, Event::DoorAjar { channel });
        }
        if let Some(jam) = self.lock.verdict(now) {
            emit(events, lost, jam_event(channel, jam));
        }
    }

    /// When [`step`](Self::step) next has work.
    pub(crate) fn deadline(&self, timing: &Timing) -> Option<Instant> {
        earliest(
            self.door.deadline(timing.debounce, timing.ajar_limit),
            self.lock.deadline(),
        )
    }

    /// The channel's active fault in its status: a jammed lock. A presence
    /// sensor that cannot be read is told by its events (`FaultRaised` and
    /// `FaultCleared` with [`FaultCode::PresenceSensorFailed`]) only: in
    /// the status too, it cost a node 40 bytes of flash it does not have.
    pub(crate) fn fault(&self) -> Option<FaultCode> {
        self.lock.is_jammed().then_some(FaultCode::LockJammed)
    }

    pub(crate) fn status(&self, channel: Channel, config: &NodeConfig) -> ChannelStatus {
        ChannelStatus {
            channel,
            door: self.door.state(),
            lock: self.lock.feedback(),
            presence: self.presence.decision(config.presence_threshold),
            fault: self.fault(),
            temperature: self.temperature,
        }
    }
}

pub(crate) fn jam_event(channel: Channel, jam: JamChange) -> Event {
    let (channel, fault) = (Some(channel), FaultCode::LockJammed);
    match jam {
        JamChange::Raised => Event::FaultRaised { channel, fault },
        JamChange::Cleared => Event::FaultCleared { channel, fault },
    }
}
