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
            ..NodeConfig::default().with_presence_threshold(10)
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
        let mut node = Controller::<4>::new(NodeConfig::default().with_presence_threshold(10), FirmwareVersion::new(1, 0, 0), ResetReason::PowerOn, Instant::ZERO).unwrap();
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

proptest! {
    /// Property: the unlock rate limit is a sliding window. Over any
    /// sequence of unlocks, pauses and maintenance mode, an unlock is
    /// carried out exactly when fewer than `max` unlocks were carried out in
    /// the `per` before it (maintenance lifts the limit, and its unlocks still
    /// count): checked against that sentence, written out as a list of
    /// every unlock carried out.
    #[test]
    fn the_unlock_rate_limit_is_a_sliding_window(
        max in 1u8..=16,
        per_s in 1u64..120,
        steps in proptest::collection::vec((0u64..30_000, any::<bool>(), 0u8..4), 1..120),
    ) {
        use locker_domain::controller::{Tuning, UnlockLimit};
        use locker_proto::{Duration, NackReason, Report};
        let per = Duration::from_secs(per_s);
        let tuning = Tuning {
            unlock_limit: UnlockLimit::new(max, per),
            ..Tuning::default()
        };
        let mut node = Controller::<4>::new(
            NodeConfig::default().with_presence_threshold(10),
            FirmwareVersion::new(1, 0, 0),
            ResetReason::PowerOn,
            Instant::ZERO,
        )
        .unwrap()
        .with_tuning(tuning);
        let mut carried_out: Vec<u64> = Vec::new();
        let mut now = 0;
        for (pause, maintenance, channel) in steps {
            now += pause;
            node.set_maintenance(maintenance);
            let answer = node.handle_command(
                &Command::Unlock { channel: Channel(channel), pulse_ms: 100 },
                Instant::from_millis(now),
            );
            // Drain the pulse, as a firmware would.
            while node.poll_action().is_some() {}
            while node.poll_event().is_some() {}
            if answer == Report::Nack(NackReason::Busy) {
                continue;
            }
            let in_window = carried_out
                .iter()
                .filter(|&&at| now - at < per.as_millis())
                .count();
            let expected = maintenance || in_window < usize::from(max);
            prop_assert_eq!(answer == Report::Ack, expected, "at {} ms: {:?}", now, answer);
            if answer == Report::Ack {
                carried_out.push(now);
            } else {
                prop_assert_eq!(answer, Report::Nack(NackReason::RateLimited));
            }
        }
    }
}
