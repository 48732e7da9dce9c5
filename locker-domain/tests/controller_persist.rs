//! Calibration and configuration surviving a reboot, and refusing bad flash.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use locker_domain::controller::{Action, Controller, ControllerError};
use locker_proto::{
    Channel, Command, Event, FirmwareVersion, Instant, NodeConfig, Presence, RebootKind, Report,
    ResetReason,
};

const FW: FirmwareVersion = FirmwareVersion::new(1, 0, 0);

fn ms(t: u64) -> Instant {
    Instant::from_millis(t)
}

fn boot(reason: ResetReason) -> Controller<4> {
    Controller::new(
        NodeConfig::default().with_presence_threshold(10),
        FW,
        reason,
        Instant::ZERO,
    )
    .unwrap()
}

/// A node whose channel 2 load cell reads 8 000 counts empty, calibrated,
/// with a 20 g threshold, saved to "flash".
fn calibrated_node_flash() -> Vec<u8> {
    let mut node = boot(ResetReason::PowerOn);
    let config = NodeConfig {
        presence_threshold: 20,
        ..NodeConfig::default()
    };
    assert_eq!(
        node.handle_command(&Command::Configure(config), ms(0)),
        Report::Ack
    );
    node.handle_presence_reading(Channel(2), 8_000, ms(10))
        .unwrap();
    assert_eq!(
        node.handle_command(
            &Command::Calibrate {
                channel: Channel(2)
            },
            ms(20)
        ),
        Report::Ack
    );
    let mut flash = [0u8; Controller::<4>::SAVED_LEN_MAX];
    assert_eq!(node.poll_action(), Some(Action::Persist));
    node.save(&mut flash).unwrap().to_vec()
}

#[test]
fn a_soft_reboot_keeps_calibration_and_configuration() {
    let mut node = boot(ResetReason::PowerOn);
    node.handle_presence_reading(Channel(2), 8_000, ms(10))
        .unwrap();
    node.handle_command(
        &Command::Calibrate {
            channel: Channel(2),
        },
        ms(20),
    );
    node.handle_command(
        &Command::Configure(NodeConfig {
            presence_threshold: 20,
            ..NodeConfig::default()
        }),
        ms(30),
    );
    assert_eq!(
        node.handle_command(
            &Command::Reboot {
                kind: RebootKind::Soft
            },
            ms(40)
        ),
        Report::Ack
    );

    // The firmware persists, then reboots, as the actions say, in that order.
    let mut flash = [0xFFu8; 64];
    let mut stored = Vec::new();
    while let Some(action) = node.poll_action() {
        match action {
            Action::Persist => stored = node.save(&mut flash).unwrap().to_vec(),
            Action::Reboot(RebootKind::Soft) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(!stored.is_empty(), "persisted before rebooting");

    let mut rebooted = boot(ResetReason::SoftReboot);
    rebooted.restore(&stored).unwrap();
    assert_eq!(rebooted.config().presence_threshold, 20);
    // An empty compartment still reads empty, a parcel of 25 g still reads occupied.
    rebooted
        .handle_presence_reading(Channel(2), 8_003, ms(100))
        .unwrap();
    assert_eq!(rebooted.poll_event(), None);
    rebooted
        .handle_presence_reading(Channel(2), 8_025, ms(200))
        .unwrap();
    assert_eq!(
        rebooted.poll_event(),
        Some(Event::PresenceChanged {
            channel: Channel(2),
            presence: Presence::occupied(25, 20)
        })
    );
}

#[test]
fn without_restore_a_rebooted_node_has_lost_its_calibration() {
    // The control case for the test above: the baseline really lives in the bytes.
    let mut rebooted = boot(ResetReason::SoftReboot);
    rebooted
        .handle_presence_reading(Channel(2), 8_003, ms(100))
        .unwrap();
    assert!(matches!(
        rebooted.poll_event(),
        Some(Event::PresenceChanged { .. })
    ));
}

fn restore_fails_and_changes_nothing(bytes: &[u8]) -> ControllerError {
    let mut node = boot(ResetReason::PowerOn);
    let err = node.restore(bytes).unwrap_err();
    assert_eq!(
        node.config(),
        &NodeConfig::default().with_presence_threshold(10)
    );
    node.handle_presence_reading(Channel(2), 8_000, ms(0))
        .unwrap();
    assert_eq!(
        node.poll_event(),
        Some(Event::PresenceChanged {
            channel: Channel(2),
            presence: Presence::occupied(8_000, 10)
        }),
        "baseline still zero"
    );
    err
}

#[test]
fn a_blank_flash_page_is_not_mistaken_for_saved_state() {
    assert_eq!(
        restore_fails_and_changes_nothing(&[0xFF; 32]),
        ControllerError::NotSavedState
    );
}

#[test]
fn a_torn_write_is_refused() {
    let flash = calibrated_node_flash();
    for len in 0..flash.len() {
        let err = restore_fails_and_changes_nothing(&flash[..len]);
        assert!(
            matches!(
                err,
                ControllerError::SavedStateTruncated
                    | ControllerError::SavedStateCorrupt
                    | ControllerError::NotSavedState
            ),
            "{len} bytes: {err:?}"
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_is_refused() {
    let flash = calibrated_node_flash();
    for byte in 0..flash.len() {
        for bit in 0..8 {
            let mut bad = flash.clone();
            bad[byte] ^= 1 << bit;
            restore_fails_and_changes_nothing(&bad);
        }
    }
}

#[test]
fn state_saved_by_a_newer_format_is_refused_by_name() {
    let mut flash = calibrated_node_flash();
    flash[2] = 2;
    assert_eq!(
        restore_fails_and_changes_nothing(&flash),
        ControllerError::UnsupportedFormat(2)
    );
}

#[test]
fn state_from_a_board_with_more_channels_is_refused() {
    let node = Controller::<8>::new(
        NodeConfig::default().with_presence_threshold(10),
        FW,
        ResetReason::PowerOn,
        Instant::ZERO,
    )
    .unwrap();
    let mut flash = [0u8; Controller::<8>::SAVED_LEN_MAX];
    let saved = node.save(&mut flash).unwrap();
    assert_eq!(
        restore_fails_and_changes_nothing(saved),
        ControllerError::ChannelCountMismatch {
            stored: 8,
            expected: 4
        }
    );
}

#[test]
fn saving_into_a_too_small_buffer_says_how_much_is_needed() {
    let node = boot(ResetReason::PowerOn);
    let mut tiny = [0u8; 8];
    assert_eq!(
        node.save(&mut tiny),
        Err(ControllerError::BufferTooSmall {
            needed: Controller::<4>::SAVED_LEN_MAX
        })
    );
}

#[test]
fn the_largest_values_fit_the_advertised_buffer() {
    let mut node = boot(ResetReason::PowerOn);
    let config = NodeConfig {
        debounce_ms: 1_000,
        door_ajar_limit_s: u16::MAX,
        presence_threshold: i32::MAX,
        max_pulse_ms: 1_000,
    };
    assert_eq!(
        node.handle_command(&Command::Configure(config), ms(0)),
        Report::Ack
    );
    for c in 0..4 {
        node.handle_presence_reading(Channel(c), i32::MIN, ms(0))
            .unwrap();
        node.handle_command(
            &Command::Calibrate {
                channel: Channel(c),
            },
            ms(0),
        );
    }
    let mut flash = [0u8; Controller::<4>::SAVED_LEN_MAX];
    let saved = node.save(&mut flash).unwrap().to_vec();
    let mut rebooted = boot(ResetReason::SoftReboot);
    rebooted.restore(&saved).unwrap();
    assert_eq!(rebooted.config(), &config);
}
