//! The node's hand-written directions against serde's, differentially: a
//! command a node reads from arbitrary bytes is the command postcard reads
//! (or both refuse the bytes), and a report a node writes is the bytes
//! postcard writes.
//!
//! Invariants: no panic; `Command::read_body` agrees with postcard on every
//! input; `Report::write_body` writes postcard's bytes for every report.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use locker_proto::frame::{Body, MAX_BODY};
use locker_proto::{Command, Report};

#[derive(Arbitrary, Debug)]
struct Input {
    bytes: Vec<u8>,
    report: Report,
}

fuzz_target!(|input: Input| {
    let by_postcard = match postcard::take_from_bytes::<Command>(&input.bytes) {
        Ok((command, [])) => Some(command),
        _ => None,
    };
    assert_eq!(Command::read_body(&input.bytes), by_postcard);

    let mut out = [0u8; MAX_BODY];
    let len = input
        .report
        .write_body(&mut out)
        .expect("every report fits a body");
    assert_eq!(
        out[..len],
        postcard::to_allocvec(&input.report).expect("postcard writes it")[..]
    );
});
