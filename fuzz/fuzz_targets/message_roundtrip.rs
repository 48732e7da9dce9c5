//! Arbitrary commands and reports: encode, decode, compare.
#![no_main]

use libfuzzer_sys::fuzz_target;
use locker_proto::frame::{Decoder, Feed, Flags, Frame, MAX_FRAME, encode};
use locker_proto::{Command, Report};

/// `encode` sends a frame without a tag, so it clears the flag that would
/// announce one: that is what must come back.
fn unsigned<B>(mut frame: Frame<B>) -> Frame<B> {
    frame.header.flags = frame.header.flags.without(Flags::AUTHENTICATED);
    frame
}

fuzz_target!(|input: (Frame<Command>, Frame<Report>)| {
    let (command, report) = (unsigned(input.0), unsigned(input.1));
    let mut buf = [0u8; MAX_FRAME];
    let bytes = encode(&command, &mut buf).expect("every command fits a frame");
    match Decoder::new().feed::<Command>(bytes) {
        Feed::Frame { frame, remaining } => {
            assert_eq!(frame, command);
            assert!(remaining.is_empty());
        }
        _ => panic!("command did not round-trip"),
    }
    let bytes = encode(&report, &mut buf).expect("every report fits a frame");
    match Decoder::new().feed::<Report>(bytes) {
        Feed::Frame { frame, remaining } => {
            assert_eq!(frame, report);
            assert!(remaining.is_empty());
        }
        _ => panic!("report did not round-trip"),
    }
});
