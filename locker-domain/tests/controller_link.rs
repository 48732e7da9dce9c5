//! The controller behind the node's link layer, as `node::Node` joins them
//! for every firmware.

// Helpers outside #[test] functions unwrap too: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod node_support;

use locker_proto::{Channel, Command, Event, Instant, Report, ResetReason};
use node_support::{Firmware, answer_of, command_frame, signed, unsigned};

#[test]
fn a_retransmitted_unlock_is_answered_without_pulsing_again() {
    let mut node = Firmware::fresh();
    let unlock = signed(
        &command_frame(
            41,
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300,
            },
        ),
        0,
    );

    assert_eq!(
        answer_of(node.receive(&unlock, Instant::from_millis(1_000))),
        Report::Ack
    );
    // The Ack was lost on the bus; the gateway retries with the same sequence
    // number, even after the pulse is over.
    assert_eq!(
        answer_of(node.receive(&unlock, Instant::from_millis(1_250))),
        Report::Ack
    );
    assert_eq!(
        answer_of(node.receive(&unlock, Instant::from_millis(2_500))),
        Report::Ack
    );
    assert_eq!(node.pulses(), vec![(Channel(2), 300)]);

    // A new unlock (next sequence number) does pulse again.
    let again = signed(
        &command_frame(
            42,
            Command::Unlock {
                channel: Channel(2),
                pulse_ms: 300,
            },
        ),
        1,
    );
    assert_eq!(
        answer_of(node.receive(&again, Instant::from_millis(3_000))),
        Report::Ack
    );
    assert_eq!(node.pulses(), vec![(Channel(2), 300), (Channel(2), 300)]);
}

#[test]
fn a_forced_door_reaches_the_gateway_through_the_event_queue() {
    let mut node = Firmware::fresh();
    node.node
        .handle_door_level(Channel(1), true, Instant::from_millis(500))
        .unwrap();
    node.node.handle_timeout(Instant::from_millis(600));
    let report = answer_of(node.receive(
        &unsigned(&command_frame(1, Command::PollEvents)),
        Instant::from_millis(700),
    ));
    let Report::Events { events, dropped: 0 } = report else {
        panic!("{report:?}")
    };
    let kinds: Vec<Event> = events.iter().map(|r| r.event).collect();
    assert_eq!(
        kinds,
        vec![
            Event::NodeStarted {
                reset_reason: ResetReason::PowerOn,
                held: None,
            },
            Event::DoorOpened {
                channel: Channel(1),
                commanded: false
            },
        ]
    );
}
