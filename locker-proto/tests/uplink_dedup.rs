//! The receiver's de-duplication window against a model that remembers
//! every id ever seen.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use locker_proto::uplink::{DEDUP_WINDOW, DedupWindow, MessageId, Verdict};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Whatever order and repetition ids arrive in, an id is carried out at
    /// most once; and every id within the window that was never seen is
    /// carried out.
    #[test]
    fn a_redelivered_message_is_never_carried_out_twice(
        ids in proptest::collection::vec(0u64..400, 0..300),
    ) {
        let mut window = DedupWindow::new();
        let mut seen = BTreeSet::new();
        let mut highest: Option<u64> = None;
        for id in ids {
            let verdict = window.accept(MessageId(id));
            let within = highest.is_none_or(|h| id > h || h - id < DEDUP_WINDOW);
            let too_far = highest.is_some_and(|h| id > h + DEDUP_WINDOW);
            let expected = if too_far {
                Verdict::TooFar
            } else if seen.contains(&id) {
                if within { Verdict::Duplicate } else { Verdict::TooOld }
            } else if within {
                Verdict::New
            } else {
                Verdict::TooOld
            };
            prop_assert_eq!(verdict, expected, "id {}", id);
            if verdict.is_new() {
                seen.insert(id);
                highest = Some(highest.map_or(id, |h| h.max(id)));
            }
        }
    }

    /// An attacker's ids, however large and interleaved with the sender's,
    /// move the window by at most its size each: the sender's next message
    /// is never refused as too old, however the attacker chose them.
    #[test]
    fn no_message_moves_the_window_so_far_that_the_sender_is_ignored(
        attacks in proptest::collection::vec(any::<u64>(), 1..50),
    ) {
        let mut window = DedupWindow::new();
        let base = MessageId::first_of_epoch(9).0;
        let mut next = base;
        prop_assert!(window.accept(MessageId(next)).is_new());
        for attack in attacks {
            let before = window.highest().unwrap();
            let _ = window.accept(MessageId(attack));
            let after = window.highest().unwrap();
            let moved = after.0 - before.0;
            prop_assert!(
                moved <= DEDUP_WINDOW || (after.epoch() > before.epoch() && u64::from(after.counter()) < DEDUP_WINDOW),
                "{before} to {after}"
            );
            // The sender goes on where it was, or in a new epoch if pushed aside.
            next += 1;
            let verdict = window.accept(MessageId(next));
            if verdict != Verdict::New {
                prop_assert!(window.highest().unwrap().epoch() > MessageId(next).epoch());
                next = MessageId::first_of_epoch(window.highest().unwrap().epoch().saturating_add(1)).0;
                if window.highest().unwrap().epoch() < u32::MAX {
                    prop_assert_eq!(window.accept(MessageId(next)), Verdict::New);
                }
            }
        }
    }

    /// A sender that goes back and resends everything unacknowledged, in
    /// order, any number of times, gets each message carried out exactly once.
    #[test]
    fn go_back_resends_are_carried_out_exactly_once(
        rewinds in proptest::collection::vec((0usize..40, 0usize..40), 1..30),
    ) {
        let mut window = DedupWindow::new();
        let mut carried_out = Vec::new();
        let mut next = 0usize;
        let base = MessageId::first_of_epoch(9).0;
        for (forward, back) in rewinds {
            for i in next..next + forward {
                if window.accept(MessageId(base + i as u64)).is_new() {
                    carried_out.push(i);
                }
            }
            next = (next + forward).saturating_sub(back.min(DEDUP_WINDOW as usize - 1));
        }
        let mut sorted = carried_out.clone();
        sorted.dedup();
        prop_assert_eq!(&sorted, &carried_out);
        prop_assert!(carried_out.windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn a_gateway_restart_with_a_new_epoch_is_not_mistaken_for_old_messages() {
    let mut window = DedupWindow::new();
    for n in 0..1000u64 {
        assert!(
            window
                .accept(MessageId(MessageId::first_of_epoch(4).0 + n))
                .is_new()
        );
    }
    let restarted = MessageId::first_of_epoch(5);
    assert_eq!(window.accept(restarted), Verdict::New);
    assert_eq!(window.accept(restarted), Verdict::Duplicate);
    assert_eq!(
        window.accept(MessageId(MessageId::first_of_epoch(4).0 + 999)),
        Verdict::TooOld
    );
    let mut buf = [0u8; 64];
    let bytes = postcard::to_slice(&window, &mut buf).unwrap();
    let restored: DedupWindow = postcard::from_bytes(bytes).unwrap();
    assert_eq!(restored, window);
    assert_eq!(restored.check(restarted), Verdict::Duplicate);
}
