//! A node's channel controller (`locker_domain::controller::Controller`,
//! four channels) fed arbitrary door-switch levels, lock feedback, presence
//! and temperature readings on any channel (known or not), commands (unlocks
//! above all, calibrations, configurations, anything), maintenance mode,
//! saved state restored (its own or arbitrary bytes), and time moving
//! forward with `handle_timeout` run until nothing is due; its events are
//! drained after every input, or left to pile up when the script says so.
//!
//! Invariants: no panic; an input refused (unknown channel, full event
//! queue, bad saved state) changes nothing; every event names a channel the
//! node has; door events alternate opened/closed per channel from closed,
//! door-ajar comes once per opening and only while open, presence events
//! alternate and obey the documented hysteresis (occupied at the threshold,
//! empty at half of it), unless the controller reported events dropped; a
//! commanded opening follows an acknowledged unlock of that channel (one
//! unlock covers one opening); every acknowledged unlock gives exactly one
//! lock pulse, never longer than the configured maximum nor the ceiling;
//! with maintenance off no more unlocks are acknowledged in a window than
//! the limit; one drain never yields more than the queue holds plus the
//! "events dropped" fault; an overflow is never silent: the fault is
//! reported; `handle_timeout` leaves nothing due after bounded rounds.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_domain::controller::{
    Action, ChannelInputs, Controller, ControllerError, EVENT_QUEUE, PULSE_CEILING_MS, Tuning,
};
use locker_proto::{
    Channel, Command, Duration, Event, FaultCode, FirmwareVersion, Instant, LockState, NackReason,
    NodeConfig, Report, ResetReason, Temperature,
};

const CHANNELS: usize = 4;

#[derive(Arbitrary, Debug)]
enum Op {
    Door {
        channel: u8,
        open: bool,
    },
    Lock {
        channel: u8,
        state: LockState,
    },
    Presence {
        channel: u8,
        reading: i32,
    },
    Temperature {
        channel: u8,
        deci: i16,
    },
    /// A presence sensor that could not be read.
    PresenceFailure(u8),
    /// One sample of all of a channel's inputs (`handle_inputs`).
    Inputs {
        channel: u8,
        open: bool,
        state: LockState,
        reading: i32,
    },
    Unlock {
        channel: u8,
        pulse_ms: u16,
    },
    Calibrate(u8),
    /// Every channel's empty reading at once (`factory_calibrate`).
    FactoryCalibrate([i32; CHANNELS]),
    Command(Command),
    Maintenance(bool),
    /// Saved state: the controller's own (`None`) or arbitrary bytes.
    Restore(Option<Vec<u8>>),
    /// Time moves forward (ms), then timeouts run.
    Wait(u16),
    /// Stop (or resume) draining events after every input.
    Hold(bool),
}

#[derive(Default, Clone, Copy)]
struct ChannelModel {
    /// The door as reported; `None` once events were dropped.
    open: Option<bool>,
    ajar_reported: bool,
    /// The presence decision as reported; `None` once events were dropped.
    occupied: Option<bool>,
    /// Acknowledged unlocks no commanded opening has used yet.
    unlocks: u32,
    /// Whether the presence sensor is reported failed; `None` once events
    /// were dropped.
    sensor_failed: Option<bool>,
}

struct Harness {
    node: Controller<CHANNELS>,
    now: Instant,
    channels: [ChannelModel; CHANNELS],
    /// Acknowledged unlocks, with whether maintenance was on.
    acked: Vec<Instant>,
    /// Pulses owed per channel (acknowledged, not yet handed out).
    owed: [u32; CHANNELS],
    hold: bool,
}

fn channel_of(event: &Event) -> Option<Channel> {
    match *event {
        Event::DoorOpened { channel, .. }
        | Event::DoorClosed { channel }
        | Event::PresenceChanged { channel, .. }
        | Event::DoorAjar { channel } => Some(channel),
        Event::FaultRaised { channel, .. } | Event::FaultCleared { channel, .. } => channel,
        _ => None,
    }
}

impl Harness {
    fn fingerprint(&self) -> String {
        format!("{:?}", self.node)
    }

    fn drain_actions(&mut self) {
        while let Some(action) = self.node.poll_action() {
            if let Action::PulseLock { channel, duration } = action {
                let i = channel.index();
                assert!(i < CHANNELS, "a pulse for channel {channel:?}");
                assert!(
                    self.owed[i] > 0,
                    "a pulse on {channel:?} without an acknowledged unlock"
                );
                self.owed[i] -= 1;
                let ms = duration.as_millis();
                assert!(ms <= PULSE_CEILING_MS, "a pulse of {ms} ms");
                assert!(
                    ms <= self.node.config().max_pulse_ms,
                    "a pulse of {ms} ms above the configured maximum {}",
                    self.node.config().max_pulse_ms
                );
            }
        }
        assert_eq!(
            self.owed, [0; CHANNELS],
            "an acknowledged unlock without its pulse"
        );
    }

    fn drain_events(&mut self) {
        let mut count = 0;
        while let Some(event) = self.node.poll_event() {
            count += 1;
            assert!(
                count <= EVENT_QUEUE + 1,
                "more events than the queue holds in one drain"
            );
            if let Some(ch) = channel_of(&event) {
                assert!(ch.index() < CHANNELS, "an event for {ch:?}: {event:?}");
            }
            match event {
                Event::FaultRaised {
                    channel: None,
                    fault: FaultCode::EventsDropped,
                } => {
                    for m in &mut self.channels {
                        m.open = None;
                        m.occupied = None;
                        m.sensor_failed = None;
                    }
                }
                Event::DoorOpened { channel, commanded } => {
                    let m = &mut self.channels[channel.index()];
                    assert_ne!(m.open, Some(true), "{channel:?} opened twice");
                    m.open = Some(true);
                    m.ajar_reported = false;
                    if commanded {
                        assert!(
                            m.unlocks > 0,
                            "{channel:?} opened commanded without an unlock"
                        );
                        m.unlocks -= 1;
                    }
                }
                Event::DoorClosed { channel } => {
                    let m = &mut self.channels[channel.index()];
                    assert_ne!(m.open, Some(false), "{channel:?} closed twice");
                    m.open = Some(false);
                }
                Event::DoorAjar { channel } => {
                    let m = &mut self.channels[channel.index()];
                    assert_ne!(m.open, Some(false), "{channel:?} ajar while closed");
                    assert!(!m.ajar_reported, "{channel:?} ajar twice in one opening");
                    m.ajar_reported = true;
                }
                Event::PresenceChanged { channel, presence } => {
                    let m = &mut self.channels[channel.index()];
                    assert_ne!(
                        m.occupied,
                        Some(presence.occupied),
                        "{channel:?} presence reported unchanged"
                    );
                    m.occupied = Some(presence.occupied);
                    if presence.occupied {
                        assert!(
                            presence.reading >= presence.threshold,
                            "occupied below the threshold: {presence:?}"
                        );
                    } else {
                        assert!(
                            presence.reading <= presence.threshold / 2,
                            "empty above half the threshold: {presence:?}"
                        );
                    }
                }
                Event::FaultRaised {
                    channel: Some(channel),
                    fault: FaultCode::PresenceSensorFailed,
                } => {
                    let m = &mut self.channels[channel.index()];
                    assert_ne!(m.sensor_failed, Some(true), "{channel:?} failed twice");
                    m.sensor_failed = Some(true);
                }
                Event::FaultCleared {
                    channel: Some(channel),
                    fault: FaultCode::PresenceSensorFailed,
                } => {
                    let m = &mut self.channels[channel.index()];
                    assert_ne!(m.sensor_failed, Some(false), "{channel:?} cleared unfailed");
                    m.sensor_failed = Some(false);
                }
                _ => {}
            }
        }
    }

    fn drain(&mut self) {
        self.drain_actions();
        if !self.hold {
            self.drain_events();
        }
    }

    /// An input that may be refused: refused, it changed nothing.
    fn input(&mut self, f: impl FnOnce(&mut Controller<CHANNELS>) -> Result<(), ControllerError>) {
        let before = self.fingerprint();
        if let Err(e) = f(&mut self.node) {
            assert_eq!(before, self.fingerprint(), "refused ({e:?}) but changed");
        }
    }

    fn unlock(&mut self, channel: Channel, pulse_ms: u16) {
        let maintenance = self.node.is_maintenance();
        let report = self
            .node
            .handle_command(&Command::Unlock { channel, pulse_ms }, self.now);
        match report {
            Report::Ack => {
                let i = channel.index();
                assert!(i < CHANNELS, "an unlock of {channel:?} acknowledged");
                assert!(pulse_ms > 0, "a zero pulse acknowledged");
                if !maintenance {
                    let limit = Tuning::default().unlock_limit;
                    let recent = self
                        .acked
                        .iter()
                        .filter(|at| self.now.saturating_since(**at) < limit.per())
                        .count();
                    assert!(
                        recent < usize::from(limit.max()),
                        "unlock acknowledged beyond the rate limit"
                    );
                }
                self.acked.push(self.now);
                self.owed[i] += 1;
                self.channels[i].unlocks += 1;
            }
            Report::Nack(
                NackReason::UnknownChannel
                | NackReason::NotPermitted
                | NackReason::Busy
                | NackReason::RateLimited,
            ) => {}
            other => panic!("an unlock answered {other:?}"),
        }
    }

    fn run_timeouts(&mut self) {
        for _ in 0..1_000 {
            self.node.handle_timeout(self.now);
            self.drain();
            match self.node.poll_timeout() {
                Some(at) if at <= self.now => {
                    if self.hold {
                        // Timers wait for room in the queue.
                        return;
                    }
                }
                _ => return,
            }
        }
        panic!("timers still due after 1,000 rounds of handle_timeout");
    }
}

fn channel(c: u8) -> Channel {
    // 0..4 exist; 4 and 5 do not; sometimes far beyond.
    Channel(if c < 250 { c % 6 } else { c })
}

fuzz_target!(|ops: Vec<Op>| {
    let fw = FirmwareVersion::new(1, 0, 0);
    let node = Controller::<CHANNELS>::new(
        NodeConfig::default().with_presence_threshold(10),
        fw,
        ResetReason::PowerOn,
        Instant::ZERO,
    )
    .expect("the default configuration");
    let mut h = Harness {
        node,
        now: Instant::from_millis(1),
        channels: [ChannelModel {
            open: Some(false),
            occupied: Some(false),
            sensor_failed: Some(false),
            ..ChannelModel::default()
        }; CHANNELS],
        acked: Vec::new(),
        owed: [0; CHANNELS],
        hold: false,
    };
    let mut saved = [0u8; Controller::<CHANNELS>::SAVED_LEN_MAX];
    for op in ops.into_iter().take(500) {
        let now = h.now;
        match op {
            Op::Door { channel: c, open } => {
                h.input(|n| n.handle_door_level(channel(c), open, now));
            }
            Op::Lock { channel: c, state } => {
                h.input(|n| n.handle_lock_feedback(channel(c), state, now));
            }
            Op::Presence {
                channel: c,
                reading,
            } => {
                h.input(|n| n.handle_presence_reading(channel(c), reading, now));
            }
            Op::PresenceFailure(c) => {
                h.input(|n| n.handle_presence_failure(channel(c), now));
            }
            Op::Inputs {
                channel: c,
                open,
                state,
                reading,
            } => {
                let inputs = ChannelInputs {
                    door_open: open,
                    lock: state,
                    presence: reading,
                };
                h.input(|n| n.handle_inputs(channel(c), inputs, now));
            }
            Op::Temperature { channel: c, deci } => {
                let t = Temperature::from_deci_celsius(deci);
                h.input(|n| n.handle_temperature(channel(c), t, now));
            }
            Op::Unlock {
                channel: c,
                pulse_ms,
            } => h.unlock(channel(c), pulse_ms),
            Op::FactoryCalibrate(empty) => {
                h.input(|n| n.factory_calibrate(empty));
            }
            Op::Calibrate(c) => {
                let _ = h.node.handle_command(
                    &Command::Calibrate {
                        channel: channel(c),
                    },
                    now,
                );
            }
            Op::Command(Command::Unlock { channel, pulse_ms }) => h.unlock(channel, pulse_ms),
            Op::Command(command) => {
                let _ = h.node.handle_command(&command, now);
            }
            Op::Maintenance(on) => h.node.set_maintenance(on),
            Op::Restore(Some(bytes)) => h.input(|n| n.restore(&bytes)),
            Op::Restore(None) => {
                let own = h.node.save(&mut saved).expect("the buffer fits").to_vec();
                let r = h.node.restore(&own);
                assert!(r.is_ok(), "the controller's own saved state refused: {r:?}");
            }
            Op::Wait(ms) => {
                h.now = now + Duration::from_millis(u64::from(ms));
                h.run_timeouts();
            }
            Op::Hold(on) => {
                h.hold = on;
                if !on {
                    h.drain_events();
                }
            }
        }
        h.drain();
    }
    h.hold = false;
    h.drain_events();
});
