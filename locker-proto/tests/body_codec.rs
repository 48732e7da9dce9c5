//! The node's hand-written directions agree with serde's byte for byte: a
//! report a node writes is what postcard writes for it, and a command a node
//! reads from any bytes is what postcard reads from them (property tests).
//!
//! The gateway writes commands and reads reports with serde, the node the
//! other way round with `locker_proto::wire`; if the two ever disagreed, a
//! node would refuse good commands or send reports the gateway cannot read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use arbitrary::{Arbitrary, Unstructured};
use locker_proto::frame::{Body, MAX_BODY};
use locker_proto::wire::{Reader, Writer};
use locker_proto::{Command, NodeConfig, Report};
use proptest::prelude::*;

/// What postcard reads from exactly `bytes`, as the frame decoder takes a
/// body: `None` if they are not one value or leave bytes over.
fn postcard_reads<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

fn postcard_writes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut buf = [0u8; 256];
    postcard::to_slice(value, &mut buf).unwrap().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// A node's report, every kind (events, statuses, refusals, the floor),
    /// is the bytes the gateway's serde reads.
    #[test]
    fn a_node_writes_every_report_as_postcard_does(seed in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(report) = Report::arbitrary(&mut u) {
            let mut out = [0u8; MAX_BODY];
            let len = report.write_body(&mut out).expect("every report fits a body");
            prop_assert_eq!(&out[..len], &postcard_writes(&report)[..]);
            prop_assert_eq!(Report::read_body(&out[..len]), Some(report));
        }
    }

    /// A report that does not fit is refused, never cut short.
    #[test]
    fn a_report_too_long_for_the_room_is_refused(seed in proptest::collection::vec(any::<u8>(), 0..256), room in 0usize..40) {
        let mut u = Unstructured::new(&seed);
        if let Ok(report) = Report::arbitrary(&mut u) {
            let needed = postcard_writes(&report).len();
            let mut out = vec![0u8; room];
            let written = report.write_body(&mut out);
            prop_assert_eq!(written, (needed <= room).then_some(needed));
        }
    }

    /// Every command the gateway writes, a node reads back unchanged.
    #[test]
    fn a_node_reads_every_command_the_gateway_writes(seed in proptest::collection::vec(any::<u8>(), 0..128)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(command) = Command::arbitrary(&mut u) {
            let mut out = [0u8; MAX_BODY];
            let len = command.write_body(&mut out).expect("every command fits a body");
            prop_assert_eq!(Command::read_body(&out[..len]), Some(command));
        }
    }

    /// From any bytes, a node reads the command postcard reads, or refuses
    /// them exactly when postcard does: bad variants, overlong varints,
    /// truncated keys, trailing bytes.
    #[test]
    fn a_node_reads_any_bytes_as_postcard_does(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        prop_assert_eq!(Command::read_body(&bytes), postcard_reads::<Command>(&bytes));
    }

    /// The same from a valid command with one byte changed or cut: the
    /// near misses a noisy bus or a forger produces.
    #[test]
    fn a_node_reads_a_damaged_command_as_postcard_does(
        seed in proptest::collection::vec(any::<u8>(), 0..128),
        at in any::<usize>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let mut u = Unstructured::new(&seed);
        if let Ok(command) = Command::arbitrary(&mut u) {
            let mut bytes = postcard_writes(&command);
            let at = at % bytes.len();
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            prop_assert_eq!(Command::read_body(&bytes), postcard_reads::<Command>(&bytes));
        }
    }

    /// The plain values, at every width, written as postcard writes them
    /// and read from any bytes as postcard reads them.
    #[test]
    fn the_plain_values_are_postcards(a in any::<u32>(), b in any::<i32>(), c in any::<u64>(), d in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut out = [0u8; 32];
        let mut w = Writer::new(&mut out);
        w.u32(a);
        w.i32(b);
        w.u64(c);
        w.byte(d);
        w.some(true);
        let len = w.finish().unwrap();
        prop_assert_eq!(&out[..len], &postcard_writes(&(a, b, c, d, Some(())))[..]);

        let read = |f: fn(&mut Reader<'_>) -> i64| {
            let mut r = Reader::new(&bytes);
            let v = f(&mut r);
            r.finish(v)
        };
        prop_assert_eq!(read(|r| i64::from(r.u16())), postcard_reads::<u16>(&bytes).map(i64::from));
        prop_assert_eq!(read(|r| i64::from(r.u32())), postcard_reads::<u32>(&bytes).map(i64::from));
        prop_assert_eq!(read(|r| i64::from(r.i16())), postcard_reads::<i16>(&bytes).map(i64::from));
        prop_assert_eq!(read(|r| i64::from(r.i32())), postcard_reads::<i32>(&bytes).map(i64::from));
        prop_assert_eq!(read(|r| i64::from(r.byte())), postcard_reads::<u8>(&bytes).map(i64::from));
    }

    /// A node's saved configuration is the wire's.
    #[test]
    fn a_configuration_is_written_and_read_as_postcard_does(seed in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut u = Unstructured::new(&seed);
        if let Ok(config) = NodeConfig::arbitrary(&mut u) {
            let mut out = [0u8; 16];
            let mut w = Writer::new(&mut out);
            config.write(&mut w);
            let len = w.finish().unwrap();
            prop_assert_eq!(&out[..len], &postcard_writes(&config)[..]);
            let mut r = Reader::new(&out[..len]);
            let read = NodeConfig::read(&mut r);
            prop_assert_eq!(r.finish(read), Some(config));
        }
    }
}

/// The edges of the varints, where a hand-written reader most easily
/// parts from postcard: the widest forms, the bits beyond a width on the
/// last byte, longer forms than needed, a continuation that never ends.
#[test]
fn a_node_reads_the_varints_edges_as_postcard_does() {
    let cases: &[&[u8]] = &[
        &[0x7f],
        &[0x80, 0x00],
        &[0xff, 0xff, 0x03],
        &[0xff, 0xff, 0x04],
        &[0xff, 0xff, 0x83],
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0xff, 0xff, 0xff, 0xff, 0x10],
        &[0xff, 0xff, 0xff, 0xff, 0x8f],
        &[0x80, 0x80, 0x80, 0x80, 0x00],
        &[0x80],
        &[],
    ];
    for bytes in cases {
        let mut r = Reader::new(bytes);
        let v = r.u16();
        assert_eq!(
            r.finish(v),
            postcard_reads::<u16>(bytes),
            "u16 from {bytes:02x?}"
        );
        let mut r = Reader::new(bytes);
        let v = r.u32();
        assert_eq!(
            r.finish(v),
            postcard_reads::<u32>(bytes),
            "u32 from {bytes:02x?}"
        );
        // An unlock whose pulse is this varint.
        let mut unlock = vec![3, 0];
        unlock.extend_from_slice(bytes);
        assert_eq!(
            Command::read_body(&unlock),
            postcard_reads::<Command>(&unlock),
            "unlock with a pulse of {bytes:02x?}"
        );
    }
}
