//! Arbitrary bytes, in arbitrary chunks, through the streaming decoder.
//!
//! Invariants: no panic; the decoder never holds more than MAX_FRAME bytes;
//! every frame it yields re-encodes to bytes that decode to the same frame.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_proto::frame::{Decoder, Feed, Frame, MAX_FRAME, encode};
use locker_proto::{Command, Report};

#[derive(Arbitrary, Debug)]
struct Input {
    as_reports: bool,
    chunks: Vec<u8>,
    bytes: Vec<u8>,
}

fn check<B>(input: &Input)
where
    B: locker_proto::frame::Body + PartialEq + core::fmt::Debug,
{
    let mut decoder = Decoder::new();
    let mut offset = 0;
    let mut chunk = input.chunks.iter().cycle();
    while offset < input.bytes.len() {
        let size = usize::from(*chunk.next().unwrap_or(&255)).max(1);
        let end = (offset + size).min(input.bytes.len());
        let mut rest = &input.bytes[offset..end];
        loop {
            match decoder.feed::<B>(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => {
                    reencode(&frame);
                    rest = remaining;
                }
                Feed::Error { remaining, .. } => rest = remaining,
            }
            assert!(decoder.pending() <= MAX_FRAME);
        }
        offset = end;
    }
}

fn reencode<B>(frame: &Frame<B>)
where
    B: locker_proto::frame::Body + PartialEq + core::fmt::Debug,
{
    let mut buf = [0u8; MAX_FRAME];
    let bytes = encode(frame, &mut buf).expect("a decoded frame always re-encodes");
    match Decoder::new().feed::<B>(bytes) {
        Feed::Frame { frame: again, .. } => assert_eq!(&again, frame),
        other => panic!(
            "re-encoded frame did not decode: {:?}",
            matches!(other, Feed::Consumed)
        ),
    }
}

fuzz_target!(|input: Input| {
    if input.as_reports {
        check::<Report>(&input);
    } else {
        check::<Command>(&input);
    }
});
