//! Property: nothing a gateway sends makes a node drive a lock longer than
//! the maximum in force, nor longer than the firmware ceiling.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use locker_domain::controller::{Action, Controller, PULSE_CEILING_MS};
use locker_proto::{Channel, Command, FirmwareVersion, Instant, NodeConfig, ResetReason};
use proptest::prelude::*;

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (0u8..6, any::<u16>()).prop_map(|(c, pulse_ms)| Command::Unlock {
            channel: Channel(c),
            pulse_ms
        }),
        (any::<u16>(), any::<u16>(), any::<i32>(), any::<u16>()).prop_map(|(d, a, p, m)| {
            Command::Configure(NodeConfig {
                debounce_ms: d,
                door_ajar_limit_s: a,
                presence_threshold: p,
                max_pulse_ms: m,
            })
        }),
        (0u16..8000).prop_map(|m| Command::Configure(NodeConfig {
            max_pulse_ms: m,
            ..NodeConfig::default()
        })),
        (0u8..6).prop_map(|c| Command::Calibrate {
            channel: Channel(c)
        }),
        Just(Command::GetAllStatus),
    ]
}

proptest! {
    #[test]
    fn no_command_sequence_pulses_a_lock_past_the_maximum(
        steps in proptest::collection::vec((command(), 0u64..2_000, any::<bool>()), 1..60)
    ) {
        let mut node = Controller::<4>::new(NodeConfig::default(), FirmwareVersion::new(1, 0, 0), ResetReason::PowerOn, Instant::ZERO).unwrap();
        let mut now = Instant::ZERO;
        for (command, advance, drain) in steps {
            now += locker_proto::Duration::from_millis(advance);
            let _ = node.handle_command(&command, now);
            node.handle_timeout(now);
            while node.poll_event().is_some() {}
            // Sometimes the firmware is slow to drain actions: a pulse accepted
            // under an old maximum must still obey the new one.
            if drain {
                while let Some(action) = node.poll_action() {
                    if let Action::PulseLock { duration, .. } = action {
                        prop_assert!(duration.as_millis() <= node.config().max_pulse_ms);
                        prop_assert!(duration.as_millis() <= PULSE_CEILING_MS);
                        prop_assert!(duration.as_millis() > 0);
                    }
                }
            }
        }
    }
}
