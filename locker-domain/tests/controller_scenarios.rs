//! A compartment node's life, driven through the controller with simulated time.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use locker_domain::controller::{
    Action, Controller, ControllerError, EVENT_QUEUE, PULSE_CEILING_MS,
};
use locker_proto::{
    Channel, Command, DoorState, Event, FaultCode, FirmwareVersion, Indicator, Instant, LockState,
    NackReason, NodeConfig, Presence, ProtocolVersions, RebootKind, Report, ResetReason,
};

const C0: Channel = Channel(0);
const C1: Channel = Channel(1);

fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

fn node_with(config: NodeConfig) -> Controller<4> {
    Controller::new(
        config,
        FirmwareVersion::new(1, 2, 3),
        ResetReason::PowerOn,
        Instant::ZERO,
    )
    .unwrap()
}

/// The default config (30 ms debounce, 60 s ajar limit, 1 s max pulse) with
/// a presence threshold of 10 units.
fn node() -> Controller<4> {
    node_with(NodeConfig::default().with_presence_threshold(10))
}

fn events(node: &mut Controller<4>) -> Vec<Event> {
    std::iter::from_fn(|| node.poll_event()).collect()
}

fn actions(node: &mut Controller<4>) -> Vec<Action> {
    std::iter::from_fn(|| node.poll_action()).collect()
}

/// Holds the door at `open` from `from` until past the debounce time.
fn door(node: &mut Controller<4>, channel: Channel, open: bool, from: u64) {
    node.handle_door_level(channel, open, ms(from)).unwrap();
    node.handle_door_level(channel, open, ms(from + 40))
        .unwrap();
}

fn unlock(channel: Channel, pulse_ms: u16) -> Command {
    Command::Unlock { channel, pulse_ms }
}

fn pulses(actions: &[Action]) -> Vec<(Channel, u16)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::PulseLock { channel, duration } => Some((*channel, duration.as_millis())),
            _ => None,
        })
        .collect()
}

#[test]
fn courier_opens_the_door_the_gateway_unlocked_and_it_is_commanded() {
    let mut node = node();
    assert_eq!(
        node.handle_command(&unlock(C1, 300), ms(1_000)),
        Report::Ack
    );
    assert_eq!(pulses(&actions(&mut node)), vec![(C1, 300)]);

    door(&mut node, C1, true, 1_400);
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C1,
            commanded: true
        }]
    );
    door(&mut node, C1, false, 20_000);
    assert_eq!(events(&mut node), vec![Event::DoorClosed { channel: C1 }]);
}

#[test]
fn door_pried_open_without_an_unlock_is_reported_forced() {
    let mut node = node();
    door(&mut node, C0, true, 5_000);
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C0,
            commanded: false
        }]
    );
}

#[test]
fn door_opened_after_the_unlock_window_is_forced() {
    let mut node = node();
    node.handle_command(&unlock(C0, 300), ms(1_000));
    actions(&mut node);
    // The default window is 10 s from the start of the pulse.
    door(&mut node, C0, true, 11_500);
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C0,
            commanded: false
        }]
    );
}

#[test]
fn one_unlock_covers_one_opening_and_a_second_opening_is_forced() {
    let mut node = node();
    node.handle_command(&unlock(C0, 300), ms(1_000));
    door(&mut node, C0, true, 1_500);
    door(&mut node, C0, false, 3_000);
    door(&mut node, C0, true, 4_000);
    assert_eq!(
        events(&mut node),
        vec![
            Event::DoorOpened {
                channel: C0,
                commanded: true
            },
            Event::DoorClosed { channel: C0 },
            Event::DoorOpened {
                channel: C0,
                commanded: false
            },
        ]
    );
}

#[test]
fn unlocking_another_channel_does_not_excuse_a_forced_door() {
    let mut node = node();
    node.handle_command(&unlock(C1, 300), ms(1_000));
    door(&mut node, C0, true, 1_200);
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C0,
            commanded: false
        }]
    );
}

#[test]
fn a_bouncing_door_switch_reports_one_opening() {
    let mut node = node();
    // The contact chatters for 25 ms, then holds open.
    for (t, open) in [
        (100, true),
        (104, false),
        (109, true),
        (113, false),
        (118, true),
        (125, true),
    ] {
        node.handle_door_level(C0, open, ms(t)).unwrap();
    }
    assert_eq!(events(&mut node), vec![]);
    node.handle_door_level(C0, true, ms(150)).unwrap();
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C0,
            commanded: false
        }]
    );
    assert_eq!(node.channel_status(C0).unwrap().door, DoorState::Open);
}

#[test]
fn a_glitch_shorter_than_the_debounce_is_ignored() {
    let mut node = node();
    node.handle_door_level(C0, true, ms(100)).unwrap();
    node.handle_door_level(C0, false, ms(120)).unwrap();
    node.handle_timeout(ms(1_000));
    assert_eq!(events(&mut node), vec![]);
    assert_eq!(node.channel_status(C0).unwrap().door, DoorState::Closed);
}

#[test]
fn a_debounced_level_is_committed_by_the_timer_without_another_sample() {
    let mut node = node();
    node.handle_door_level(C0, true, ms(100)).unwrap();
    assert_eq!(node.poll_timeout(), Some(ms(130)));
    node.handle_timeout(ms(129));
    assert_eq!(events(&mut node), vec![]);
    node.handle_timeout(ms(130));
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C0,
            commanded: false
        }]
    );
}

#[test]
fn door_left_open_raises_door_ajar_once_at_the_limit() {
    let mut node = node_with(NodeConfig {
        door_ajar_limit_s: 45,
        ..NodeConfig::default().with_presence_threshold(10)
    });
    door(&mut node, C0, true, 1_200);
    events(&mut node);
    assert_eq!(node.poll_timeout(), Some(ms(46_200)));
    node.handle_timeout(ms(46_199));
    assert_eq!(events(&mut node), vec![]);
    node.handle_timeout(ms(46_200));
    assert_eq!(events(&mut node), vec![Event::DoorAjar { channel: C0 }]);
    node.handle_timeout(ms(200_000));
    assert_eq!(events(&mut node), vec![]);
    assert_eq!(node.poll_timeout(), None);

    // Closing and leaving it open again re-arms the alarm.
    door(&mut node, C0, false, 300_000);
    door(&mut node, C0, true, 301_000);
    events(&mut node);
    node.handle_timeout(ms(346_000));
    assert_eq!(events(&mut node), vec![Event::DoorAjar { channel: C0 }]);
}

#[test]
fn door_closed_before_the_limit_raises_no_ajar() {
    let mut node = node();
    door(&mut node, C0, true, 1_000);
    door(&mut node, C0, false, 30_000);
    node.handle_timeout(ms(120_000));
    assert!(!events(&mut node).contains(&Event::DoorAjar { channel: C0 }));
}

#[test]
fn a_lock_that_never_releases_is_reported_jammed() {
    let mut node = node();
    node.handle_lock_feedback(C0, LockState::Locked, ms(0))
        .unwrap();
    node.handle_command(&unlock(C0, 300), ms(1_000));
    actions(&mut node);
    // The feedback contact still reads latched all through the pulse.
    node.handle_lock_feedback(C0, LockState::Locked, ms(1_150))
        .unwrap();
    node.handle_lock_feedback(C0, LockState::Locked, ms(1_300))
        .unwrap();
    node.handle_timeout(ms(1_799));
    assert_eq!(events(&mut node), vec![]);
    assert_eq!(node.poll_timeout(), Some(ms(1_800)));
    node.handle_timeout(ms(1_800));
    assert_eq!(
        events(&mut node),
        vec![Event::FaultRaised {
            channel: Some(C0),
            fault: FaultCode::LockJammed
        }]
    );
    assert_eq!(
        node.channel_status(C0).unwrap().fault,
        Some(FaultCode::LockJammed)
    );
    let Report::BulkStatus(bulk) = node.handle_command(&Command::GetAllStatus, ms(2_000)) else {
        panic!()
    };
    assert!(bulk.faulted.get(C0));

    // Staff retry; this time the latch lets go and the fault clears.
    assert_eq!(
        node.handle_command(&unlock(C0, 300), ms(60_000)),
        Report::Ack
    );
    node.handle_lock_feedback(C0, LockState::Unlocked, ms(60_100))
        .unwrap();
    assert_eq!(
        events(&mut node),
        vec![Event::FaultCleared {
            channel: Some(C0),
            fault: FaultCode::LockJammed
        }]
    );
    node.handle_timeout(ms(61_000));
    assert_eq!(events(&mut node), vec![]);
    assert_eq!(node.channel_status(C0).unwrap().fault, None);
}

#[test]
fn every_pulse_that_does_not_release_a_jammed_lock_is_reported_again() {
    // The jam was raised at an earlier unlock (nobody was waiting then).
    // The next person's unlock gets the node's word too, so the gateway
    // can tell this jam from a door nobody pulled.
    let mut node = node();
    node.handle_lock_feedback(C0, LockState::Locked, ms(0))
        .unwrap();
    let jam = Event::FaultRaised {
        channel: Some(C0),
        fault: FaultCode::LockJammed,
    };
    for start in [1_000, 60_000] {
        assert_eq!(
            node.handle_command(&unlock(C0, 300), ms(start)),
            Report::Ack
        );
        actions(&mut node);
        node.handle_timeout(ms(start + 800));
        assert_eq!(events(&mut node), vec![jam], "the unlock at {start} ms");
    }
}

#[test]
fn a_lock_that_releases_is_not_jammed() {
    let mut node = node();
    node.handle_lock_feedback(C0, LockState::Locked, ms(0))
        .unwrap();
    node.handle_command(&unlock(C0, 300), ms(1_000));
    node.handle_lock_feedback(C0, LockState::Unlocked, ms(1_050))
        .unwrap();
    node.handle_lock_feedback(C0, LockState::Locked, ms(1_400))
        .unwrap();
    node.handle_timeout(ms(5_000));
    assert_eq!(events(&mut node), vec![]);
}

#[test]
fn a_door_that_opens_proves_the_lock_released_despite_a_sticky_contact() {
    let mut node = node();
    node.handle_lock_feedback(C0, LockState::Locked, ms(0))
        .unwrap();
    node.handle_command(&unlock(C0, 300), ms(1_000));
    door(&mut node, C0, true, 1_100);
    node.handle_timeout(ms(5_000));
    assert_eq!(
        events(&mut node),
        vec![Event::DoorOpened {
            channel: C0,
            commanded: true
        }]
    );
}

#[test]
fn a_lock_without_feedback_contact_is_never_declared_jammed() {
    let mut node = node();
    node.handle_command(&unlock(C0, 300), ms(1_000));
    node.handle_timeout(ms(5_000));
    assert_eq!(events(&mut node), vec![]);
    assert_eq!(node.poll_timeout(), None);
}

#[test]
fn unlocking_a_lock_still_pulsing_is_refused_busy() {
    let mut node = node();
    assert_eq!(
        node.handle_command(&unlock(C0, 800), ms(1_000)),
        Report::Ack
    );
    assert_eq!(pulses(&actions(&mut node)), vec![(C0, 800)]);
    assert_eq!(
        node.handle_command(&unlock(C0, 800), ms(1_500)),
        Report::Nack(NackReason::Busy)
    );
    // Other channels are independent.
    assert_eq!(
        node.handle_command(&unlock(C1, 800), ms(1_500)),
        Report::Ack
    );
    assert_eq!(pulses(&actions(&mut node)), vec![(C1, 800)]);
    // Once the pulse has run its course the lock can be released again.
    assert_eq!(
        node.handle_command(&unlock(C0, 800), ms(1_800)),
        Report::Ack
    );
    assert_eq!(pulses(&actions(&mut node)), vec![(C0, 800)]);
}

#[test]
fn a_pulse_longer_than_the_configured_maximum_is_cut_down() {
    let mut node = node_with(NodeConfig {
        max_pulse_ms: 400,
        ..NodeConfig::default().with_presence_threshold(10)
    });
    node.handle_command(&unlock(C0, u16::MAX), ms(1_000));
    assert_eq!(pulses(&actions(&mut node)), vec![(C0, 400)]);
}

#[test]
fn a_configuration_above_the_firmware_ceiling_is_refused_and_changes_nothing() {
    let mut node = node();
    let greedy = NodeConfig {
        max_pulse_ms: PULSE_CEILING_MS + 1,
        ..NodeConfig::default().with_presence_threshold(10)
    };
    assert_eq!(
        node.handle_command(&Command::Configure(greedy), ms(0)),
        Report::Nack(NackReason::InvalidConfig)
    );
    assert_eq!(
        node.config(),
        &NodeConfig::default().with_presence_threshold(10)
    );
    assert_eq!(actions(&mut node), vec![]);
    node.handle_command(&unlock(C0, u16::MAX), ms(1_000));
    assert_eq!(pulses(&actions(&mut node)), vec![(C0, 1_000)]);
}

#[test]
fn lowering_the_maximum_also_cuts_a_pulse_not_yet_driven() {
    let mut node = node();
    node.handle_command(&unlock(C0, 900), ms(1_000));
    let config = NodeConfig {
        max_pulse_ms: 200,
        ..NodeConfig::default().with_presence_threshold(10)
    };
    assert_eq!(
        node.handle_command(&Command::Configure(config), ms(1_000)),
        Report::Ack
    );
    assert_eq!(
        actions(&mut node),
        vec![
            Action::Persist,
            Action::PulseLock {
                channel: C0,
                duration: pulse_of(&node_with(config), 200)
            },
        ]
    );
}

fn pulse_of(node: &Controller<4>, millis: u16) -> locker_domain::controller::PulseDuration {
    // Only the controller makes pulse durations: ask a fresh one for this length.
    let mut fresh = Controller::<4>::new(
        *node.config(),
        FirmwareVersion::new(0, 0, 0),
        ResetReason::PowerOn,
        Instant::ZERO,
    )
    .unwrap();
    fresh.handle_command(&unlock(C0, millis), Instant::ZERO);
    match fresh.poll_action() {
        Some(Action::PulseLock { duration, .. }) => duration,
        other => panic!("expected a pulse, got {other:?}"),
    }
}

#[test]
fn a_zero_length_unlock_is_refused_rather_than_acknowledged() {
    let mut node = node();
    assert_eq!(
        node.handle_command(&unlock(C0, 0), ms(0)),
        Report::Nack(NackReason::NotPermitted)
    );
    assert_eq!(actions(&mut node), vec![]);
}

/// Two sheets of A4 paper weigh about 10 g: right at a 10 g threshold, with
/// ±2 g of load-cell noise.
#[test]
fn two_sheets_of_paper_on_a_load_cell_are_seen_once_and_do_not_flap() {
    let mut node = node();
    let empty_cell = 8_000; // raw counts with nothing on the plate
    node.handle_presence_reading(C0, empty_cell, ms(0)).unwrap();
    assert_eq!(
        node.handle_command(&Command::Calibrate { channel: C0 }, ms(10)),
        Report::Ack
    );
    assert_eq!(actions(&mut node), vec![Action::Persist]);
    events(&mut node);

    let mut t = 1_000;
    for grams in [3, 5, 9, 10, 12, 8, 11, 7, 10, 9, 11] {
        node.handle_presence_reading(C0, empty_cell + grams, ms(t))
            .unwrap();
        t += 100;
    }
    assert_eq!(
        events(&mut node),
        vec![Event::PresenceChanged {
            channel: C0,
            presence: Presence::occupied(10, 10)
        }]
    );
    // The courier takes them out again.
    for grams in [6, 2, 0, 1] {
        node.handle_presence_reading(C0, empty_cell + grams, ms(t))
            .unwrap();
        t += 100;
    }
    assert_eq!(
        events(&mut node),
        vec![Event::PresenceChanged {
            channel: C0,
            presence: Presence::empty(2, 10)
        }]
    );
}

/// A thin envelope barely raises the IR reflectance above the empty
/// compartment's; the threshold is set just under its contrast.
#[test]
fn a_thin_envelope_on_an_ir_beam_appears_and_disappears_cleanly() {
    let mut node = node_with(NodeConfig {
        presence_threshold: 40,
        ..NodeConfig::default()
    });
    node.handle_presence_reading(C1, 512, ms(0)).unwrap();
    node.handle_command(&Command::Calibrate { channel: C1 }, ms(0));
    events(&mut node);
    let mut t = 100;
    let mut seen = Vec::new();
    for reflectance in [515, 548, 556, 541, 533, 552, 538, 545, 536, 514, 509, 531] {
        node.handle_presence_reading(C1, reflectance, ms(t))
            .unwrap();
        seen.extend(events(&mut node));
        t += 100;
    }
    assert_eq!(
        seen,
        vec![
            Event::PresenceChanged {
                channel: C1,
                presence: Presence::occupied(44, 40)
            },
            Event::PresenceChanged {
                channel: C1,
                presence: Presence::empty(2, 40)
            },
        ]
    );
    assert_eq!(
        node.channel_status(C1).unwrap().presence,
        Presence::empty(19, 40)
    );
}

#[test]
fn calibrating_before_any_reading_is_refused() {
    let mut node = node();
    assert_eq!(
        node.handle_command(&Command::Calibrate { channel: C0 }, ms(0)),
        Report::Nack(NackReason::NotPermitted)
    );
    assert_eq!(actions(&mut node), vec![]);
}

#[test]
fn calibration_absorbs_a_drifted_empty_reading() {
    let mut node = node();
    node.handle_presence_reading(C0, 25, ms(0)).unwrap();
    assert_eq!(
        events(&mut node),
        vec![Event::PresenceChanged {
            channel: C0,
            presence: Presence::occupied(25, 10)
        }]
    );
    node.handle_command(&Command::Calibrate { channel: C0 }, ms(10));
    assert_eq!(
        events(&mut node),
        vec![Event::PresenceChanged {
            channel: C0,
            presence: Presence::empty(0, 10)
        }]
    );
}

#[test]
fn gateway_reads_every_channel_in_one_bulk_status() {
    let mut node = node();
    door(&mut node, C1, true, 0);
    node.handle_lock_feedback(C0, LockState::Locked, ms(100))
        .unwrap();
    node.handle_presence_reading(Channel(3), 50, ms(100))
        .unwrap();
    let Report::BulkStatus(bulk) = node.handle_command(&Command::GetAllStatus, ms(200)) else {
        panic!()
    };
    assert_eq!(bulk.channels, 4);
    assert_eq!(bulk.door_open.0, 0b0010);
    assert_eq!(bulk.locked.0, 0b0001);
    assert_eq!(bulk.occupied.0, 0b1000);
    assert_eq!(bulk.faulted.0, 0);
}

#[test]
fn ping_reports_firmware_uptime_reset_reason_and_the_bus_versions_the_node_speaks() {
    let mut node = Controller::<4>::new(
        NodeConfig::default().with_presence_threshold(10),
        FirmwareVersion::new(1, 2, 3),
        ResetReason::Watchdog,
        ms(500),
    )
    .unwrap();
    assert_eq!(
        node.handle_command(&Command::PING, ms(2_500)),
        Report::Pong {
            firmware: FirmwareVersion::new(1, 2, 3),
            uptime_ms: 2_000,
            reset_reason: ResetReason::Watchdog,
            versions: ProtocolVersions::BUS,
        }
    );
    // A newer master that also speaks a version 2 is told the same: it
    // picks the version from the answer.
    let newer = Command::Ping {
        versions: ProtocolVersions::from_bits(0b11),
    };
    assert!(matches!(
        node.handle_command(&newer, ms(2_600)),
        Report::Pong { versions, .. } if versions == ProtocolVersions::BUS
    ));
}

#[test]
fn status_of_a_channel_reports_temperature_and_lock() {
    let mut node = node();
    node.handle_temperature(C1, locker_proto::Temperature(42), ms(0))
        .unwrap();
    node.handle_lock_feedback(C1, LockState::Locked, ms(0))
        .unwrap();
    let Report::Status(status) = node.handle_command(&Command::GetStatus { channel: C1 }, ms(0))
    else {
        panic!()
    };
    assert_eq!(status.temperature, Some(locker_proto::Temperature(42)));
    assert_eq!(status.lock, LockState::Locked);
    assert_eq!(status.channel, C1);
}

#[test]
fn a_channel_the_node_does_not_have_is_refused_everywhere() {
    let mut node = node();
    let ghost = Channel(4);
    assert_eq!(
        node.handle_command(&unlock(ghost, 300), ms(0)),
        Report::Nack(NackReason::UnknownChannel)
    );
    assert_eq!(
        node.handle_command(&Command::GetStatus { channel: ghost }, ms(0)),
        Report::Nack(NackReason::UnknownChannel)
    );
    assert_eq!(
        node.handle_command(&Command::Calibrate { channel: ghost }, ms(0)),
        Report::Nack(NackReason::UnknownChannel)
    );
    let err = ControllerError::UnknownChannel {
        channel: ghost,
        channels: 4,
    };
    assert_eq!(node.handle_door_level(ghost, true, ms(0)), Err(err));
    assert_eq!(node.handle_presence_reading(ghost, 1, ms(0)), Err(err));
    assert_eq!(
        node.handle_lock_feedback(ghost, LockState::Locked, ms(0)),
        Err(err)
    );
    assert_eq!(
        node.handle_temperature(ghost, locker_proto::Temperature(0), ms(0)),
        Err(err)
    );
    assert_eq!(actions(&mut node), vec![]);
}

#[test]
fn link_level_commands_are_not_the_controllers_business() {
    let mut node = node();
    assert_eq!(
        node.handle_command(&Command::PollEvents, ms(0)),
        Report::Nack(NackReason::Unsupported)
    );
}

#[test]
fn indicators_and_reboot_come_out_as_actions_with_reboot_last() {
    let mut node = node();
    node.handle_command(
        &Command::Reboot {
            kind: RebootKind::Soft,
        },
        ms(0),
    );
    node.handle_command(
        &Command::SetIndicator {
            channel: C1,
            indicator: Indicator::Blink,
        },
        ms(0),
    );
    node.handle_command(
        &Command::Configure(NodeConfig {
            debounce_ms: 50,
            ..NodeConfig::default().with_presence_threshold(10)
        }),
        ms(0),
    );
    assert_eq!(
        actions(&mut node),
        vec![
            Action::Persist,
            Action::SetIndicator {
                channel: C1,
                indicator: Indicator::Blink
            },
            Action::Reboot(RebootKind::Soft),
        ]
    );
}

#[test]
fn a_full_event_queue_refuses_samples_without_losing_any_door() {
    let mut node = node_with(NodeConfig {
        debounce_ms: 0,
        ..NodeConfig::default().with_presence_threshold(10)
    });
    let mut accepted = 0;
    let mut t = 0;
    // Nobody drains the events: the controller must refuse, not drop.
    loop {
        let open = accepted % 2 == 0;
        match node.handle_door_level(C0, open, ms(t)) {
            Ok(()) => accepted += 1,
            Err(ControllerError::EventQueueFull) => break,
            Err(e) => panic!("{e}"),
        }
        t += 10;
        assert!(accepted <= EVENT_QUEUE);
    }
    let before = node.channel_status(C0).unwrap();
    assert_eq!(
        node.handle_door_level(C0, accepted % 2 == 0, ms(t)),
        Err(ControllerError::EventQueueFull)
    );
    assert_eq!(node.channel_status(C0).unwrap(), before);
    let drained = events(&mut node);
    assert_eq!(drained.len(), accepted);
    assert!(
        !drained
            .iter()
            .any(|e| matches!(e, Event::FaultRaised { .. }))
    );
    node.handle_door_level(C0, accepted % 2 == 0, ms(t))
        .unwrap();
    assert_eq!(events(&mut node).len(), 1);
}

#[test]
fn timers_for_many_channels_wait_for_room_instead_of_dropping() {
    let mut node = Controller::<16>::new(
        NodeConfig::default().with_presence_threshold(10),
        FirmwareVersion::new(1, 0, 0),
        ResetReason::PowerOn,
        Instant::ZERO,
    )
    .unwrap();
    // Sixteen doors start opening between two samples of the timer.
    for c in 0..16 {
        node.handle_door_level(Channel(c), true, ms(100)).unwrap();
    }
    let mut opened = Vec::new();
    while node.poll_timeout().is_some_and(|t| t <= ms(200)) {
        node.handle_timeout(ms(200));
        opened.extend(std::iter::from_fn(|| node.poll_event()));
    }
    assert_eq!(opened.len(), 16);
    assert!(opened.iter().all(|e| matches!(
        e,
        Event::DoorOpened {
            commanded: false,
            ..
        }
    )));
}

/// A firmware that reads each channel's door, lock contact and presence once
/// per pass and hands them over in one call hears exactly what three calls
/// would have told it: a courier opening the door of a locked compartment
/// with a parcel inside, then closing it empty.
#[test]
fn one_sample_of_a_channels_inputs_is_the_three_readings_in_order() {
    use locker_domain::controller::ChannelInputs;
    let mut node = node();
    let sample = |door_open, presence| ChannelInputs {
        door_open,
        lock: LockState::Locked,
        presence,
    };
    node.handle_inputs(C1, sample(false, 500), ms(0)).unwrap();
    node.handle_inputs(C1, sample(true, 500), ms(10)).unwrap();
    node.handle_inputs(C1, sample(true, 0), ms(50)).unwrap();
    let heard = events(&mut node);
    assert!(
        matches!(
            heard.as_slice(),
            [
                Event::PresenceChanged {
                    channel: C1,
                    presence: Presence { occupied: true, .. }
                },
                Event::DoorOpened {
                    channel: C1,
                    commanded: false
                },
                Event::PresenceChanged {
                    channel: C1,
                    presence: Presence {
                        occupied: false,
                        ..
                    }
                },
            ]
        ),
        "{heard:?}"
    );
    // An unknown channel is refused and changes nothing.
    assert!(matches!(
        node.handle_inputs(Channel(4), sample(true, 500), ms(60)),
        Err(ControllerError::UnknownChannel { .. })
    ));
    assert!(events(&mut node).is_empty());
}

proptest::proptest! {
    /// Over arbitrary readings, unlocks and timeouts, one call per channel
    /// and three calls per channel leave two controllers telling the same
    /// events, actions and statuses.
    #[test]
    fn one_call_per_channel_equals_three(
        steps in proptest::collection::vec(
            (0u8..4, proptest::bool::ANY, 0u8..3, -50i32..80, 0u64..400, 0u8..6),
            1..120,
        ),
    ) {
        use locker_domain::controller::ChannelInputs;
        let (mut one, mut three) = (node(), node());
        let mut now = 0;
        for (channel, door_open, lock, presence, dt, unlock_roll) in steps {
            now += dt;
            let channel = Channel(channel);
            let lock = [LockState::Locked, LockState::Unlocked, LockState::Unknown][usize::from(lock)];
            if unlock_roll == 0 {
                let a = one.handle_command(&unlock(channel, 200), ms(now));
                let b = three.handle_command(&unlock(channel, 200), ms(now));
                proptest::prop_assert_eq!(a, b);
            }
            let inputs = ChannelInputs { door_open, lock, presence };
            let a = one.handle_inputs(channel, inputs, ms(now));
            let b = three
                .handle_door_level(channel, door_open, ms(now))
                .and_then(|()| three.handle_lock_feedback(channel, lock, ms(now)))
                .and_then(|()| three.handle_presence_reading(channel, presence, ms(now)));
            proptest::prop_assert_eq!(a, b);
            if one.poll_timeout().is_some_and(|due| due <= ms(now)) {
                one.handle_timeout(ms(now));
            }
            if three.poll_timeout().is_some_and(|due| due <= ms(now)) {
                three.handle_timeout(ms(now));
            }
            proptest::prop_assert_eq!(events(&mut one), events(&mut three));
            proptest::prop_assert_eq!(actions(&mut one), actions(&mut three));
            for c in 0..4 {
                proptest::prop_assert_eq!(one.channel_status(Channel(c)).ok(), three.channel_status(Channel(c)).ok());
            }
        }
    }
}

/// The bench at the factory: four load cells whose empty readings are far
/// from zero (an HX711's offset is hundreds of thousands of counts) are
/// calibrated at once, before the node ever reads them in service. Nothing
/// is queued for the gateway (no "item found" from an offset), nothing is
/// refused as busy, and the calibration is offered for storing; afterwards
/// the empty compartments read empty and a parcel is seen.
#[test]
fn a_node_calibrated_at_the_factory_tells_the_gateway_nothing_and_then_sees_parcels() {
    let config = NodeConfig {
        presence_threshold: 2_100,
        ..NodeConfig::default()
    };
    let mut node = node_with(config);
    let offsets = [812_340, -95_210, 401_007, 7_880];
    node.factory_calibrate(offsets).unwrap();
    assert!(events(&mut node).is_empty());
    assert_eq!(actions(&mut node), [Action::Persist]);
    for (c, offset) in offsets.into_iter().enumerate() {
        let channel = Channel(c as u8);
        assert_eq!(node.presence_baseline(channel).unwrap(), offset);
        // Noise of a few hundred counts on an empty cell: still empty.
        node.handle_presence_reading(channel, offset + 300, ms(10))
            .unwrap();
    }
    assert!(events(&mut node).is_empty());
    node.handle_presence_reading(C1, -95_210 + 40_000, ms(20))
        .unwrap();
    assert!(matches!(
        events(&mut node).as_slice(),
        [Event::PresenceChanged {
            channel: C1,
            presence: Presence { occupied: true, .. }
        }]
    ));
    // The calibration survives a reboot through the saved state.
    let mut buf = [0u8; Controller::<4>::SAVED_LEN_MAX];
    let saved = node.save(&mut buf).unwrap().to_vec();
    let mut rebooted = node_with(NodeConfig::default().with_presence_threshold(10));
    rebooted.restore(&saved).unwrap();
    assert_eq!(rebooted.presence_baseline(Channel(2)).unwrap(), 401_007);
}

/// Four load cells whose empty readings are far from zero (the HX711
/// offsets of the factory story above), read in service on a node that was
/// never calibrated; with their offsets.
fn load_cells_read_before_calibration() -> (Controller<4>, [i32; 4]) {
    let config = NodeConfig {
        presence_threshold: 2_100,
        ..NodeConfig::default()
    };
    let offsets = [812_340, -95_210, 401_007, 7_880];
    let mut node = node_with(config);
    for (c, offset) in offsets.into_iter().enumerate() {
        node.handle_presence_reading(Channel(c as u8), offset, ms(0))
            .unwrap();
    }
    (node, offsets)
}

/// Without it, the same cells read in service first: three of the four
/// offsets are reported as items (the negative one reads empty), phantom
/// events a gateway would hear. Calibrated then, the node stays truthful:
/// what was reported occupied is reported empty again.
#[test]
fn calibrating_a_running_node_tells_the_gateway_what_it_had_been_told() {
    let (mut node, offsets) = load_cells_read_before_calibration();
    let phantom = events(&mut node);
    assert_eq!(phantom.len(), 3, "{phantom:?}");
    node.factory_calibrate(offsets).unwrap();
    let corrected = events(&mut node);
    assert_eq!(corrected.len(), 3, "{corrected:?}");
    assert!(corrected.iter().all(|e| matches!(
        e,
        Event::PresenceChanged {
            presence: Presence {
                occupied: false,
                ..
            },
            ..
        }
    )));
}

/// A calibration whose corrections would not fit the event queue is refused
/// as busy and changes nothing: no baseline moves, no event is lost.
#[test]
fn a_calibration_with_no_room_for_its_corrections_is_refused_and_changes_nothing() {
    let (mut node, offsets) = load_cells_read_before_calibration();
    // Three doors open too, and nobody drains the queue: 6 of 8 held.
    for c in 0..3 {
        door(&mut node, Channel(c), true, 100);
    }
    assert_eq!(
        node.factory_calibrate(offsets),
        Err(ControllerError::EventQueueFull)
    );
    assert_eq!(node.presence_baseline(C0).unwrap(), 0);
    assert!(actions(&mut node).is_empty());
    let held = events(&mut node);
    assert_eq!(held.len(), 6, "{held:?}");
    // Drained, it goes through.
    node.factory_calibrate(offsets).unwrap();
    assert_eq!(node.presence_baseline(C0).unwrap(), 812_340);
}

/// A parcel's load cell stops answering: the node says so once, keeps
/// saying the parcel is there (a cell that cannot be read says nothing about
/// the compartment), and says when the cell reads again; the parcel is
/// still seen, and taking it out is seen.
#[test]
fn a_load_cell_that_stops_answering_is_reported_once_and_never_empties_a_compartment() {
    use locker_proto::FaultCode;
    let mut node = node();
    node.handle_presence_reading(C0, 500, ms(0)).unwrap();
    assert!(matches!(
        events(&mut node).as_slice(),
        [Event::PresenceChanged {
            presence: Presence { occupied: true, .. },
            ..
        }]
    ));
    for t in [10, 20, 30] {
        node.handle_presence_failure(C0, ms(t)).unwrap();
    }
    assert_eq!(
        events(&mut node),
        [Event::FaultRaised {
            channel: Some(C0),
            fault: FaultCode::PresenceSensorFailed
        }]
    );
    assert!(
        node.channel_status(C0).unwrap().presence.occupied,
        "still the parcel"
    );
    // Its status repeats the last reading, bit for bit: a bank that missed
    // the fault would find the cell frozen in the readings it takes
    // (`bank::health::FROZEN_READINGS`).
    assert_eq!(node.channel_status(C0).unwrap().presence.reading, 500);
    // Nor is a stale reading taken as the empty zero.
    assert_eq!(
        node.handle_command(&Command::Calibrate { channel: C0 }, ms(35)),
        Report::Nack(NackReason::NotPermitted)
    );
    node.handle_presence_reading(C0, 480, ms(40)).unwrap();
    assert_eq!(
        events(&mut node),
        [Event::FaultCleared {
            channel: Some(C0),
            fault: FaultCode::PresenceSensorFailed
        }]
    );
    node.handle_presence_reading(C0, 0, ms(50)).unwrap();
    assert!(matches!(
        events(&mut node).as_slice(),
        [Event::PresenceChanged {
            presence: Presence {
                occupied: false,
                ..
            },
            ..
        }]
    ));
    // An unknown channel is refused.
    assert!(matches!(
        node.handle_presence_failure(Channel(9), ms(60)),
        Err(ControllerError::UnknownChannel { .. })
    ));
}
