//! Every message survives encode → decode unchanged (property tests).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use arbitrary::{Arbitrary, Unstructured};
use locker_proto::frame::{Decoder, Feed, Flags, Frame, MAX_FRAME, encode};
use locker_proto::{Command, Report};
use proptest::prelude::*;

fn roundtrip<B>(frame: &Frame<B>) -> Frame<B>
where
    B: locker_proto::frame::Body + Clone,
{
    let mut buf = [0u8; MAX_FRAME];
    let bytes = encode(frame, &mut buf).expect("every message fits one frame");
    assert!(bytes.len() <= MAX_FRAME);
    assert_eq!(
        bytes.iter().filter(|&&b| b == 0).count(),
        1,
        "only the delimiter is zero"
    );
    match Decoder::new().feed::<B>(bytes) {
        Feed::Frame { frame, remaining } => {
            assert!(remaining.is_empty());
            frame
        }
        other => panic!("did not decode: {:?}", matches!(other, Feed::Consumed)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_command_roundtrips(seed in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(frame) = Frame::<Command>::arbitrary(&mut u) {
            prop_assert_eq!(roundtrip(&frame), unauthenticated(frame));
        }
    }

    #[test]
    fn every_report_roundtrips(seed in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(frame) = Frame::<Report>::arbitrary(&mut u) {
            prop_assert_eq!(roundtrip(&frame), unauthenticated(frame));
        }
    }
}

/// `encode` sends a frame without a tag, so the flag that announces one is
/// cleared on the way.
fn unauthenticated<B>(mut frame: Frame<B>) -> Frame<B> {
    frame.header.flags = frame.header.flags.without(Flags::AUTHENTICATED);
    frame
}

/// The largest report there is (a full event batch of the widest events)
/// still fits one frame.
#[test]
fn the_largest_report_fits_one_frame() {
    use locker_proto::{
        Channel, Event, EventBatch, EventRecord, EventSeq, FaultCode, Header,
        MAX_EVENTS_PER_REPORT, NodeAddr, Presence, Seq,
    };
    let mut events = EventBatch::new();
    for i in 0..MAX_EVENTS_PER_REPORT {
        let event = if i % 2 == 0 {
            Event::PresenceChanged {
                channel: Channel(255),
                presence: Presence::occupied(i32::MIN, i32::MAX),
            }
        } else {
            Event::FaultRaised {
                channel: Some(Channel(255)),
                fault: FaultCode::PresenceSensorFailed,
            }
        };
        events
            .push(EventRecord {
                seq: EventSeq(u16::MAX),
                event,
            })
            .unwrap();
    }
    let frame = Frame {
        header: Header::new(
            NodeAddr(247),
            NodeAddr::GATEWAY,
            Seq(255),
            locker_proto::Flags::MORE_PENDING,
        ),
        body: Report::Events {
            events,
            dropped: u16::MAX,
        },
    };
    assert_eq!(roundtrip(&frame), frame);
}

/// The gateway forwards reports to backends as JSON; bitmaps read as numbers there.
#[test]
fn bulk_status_reads_as_plain_numbers_in_json() {
    use locker_proto::{BulkStatus, ChannelBits};
    let status = Report::BulkStatus(BulkStatus {
        channels: 16,
        door_open: ChannelBits(1),
        locked: ChannelBits(0xFFFE),
        occupied: ChannelBits(0),
        faulted: ChannelBits(0),
    });
    let json = serde_json::to_string(&status).unwrap();
    assert_eq!(
        json,
        r#"{"BulkStatus":{"channels":16,"door_open":1,"locked":65534,"occupied":0,"faulted":0}}"#
    );
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), status);
}
