//! The simulated Kerong boards answer the vendor's frames as the drivers
//! expect them, byte for byte, and their fault knobs do what they say.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use embedded_io::{Read, Write};
use locker_drivers::kerong::{Cu16, Cu16Address, Cu48, KerongError, LockBoard};
use locker_drivers::sim::{SimCu16, SimCu48};
use locker_proto::time::{Duration, Instant};
use locker_proto::{Channel, ChannelBits, DoorState};

fn board(n: u8) -> Cu16Address {
    Cu16Address::new(n).unwrap()
}

/// Everything the board has put on the line.
fn read_all(line: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 32];
    loop {
        match line.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn a_cu16_answers_a_status_request_with_the_documented_frame() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    line.compartment_mut(Channel(1)).unwrap().force_door();
    line.compartment_mut(Channel(1))
        .unwrap()
        .place_item(50)
        .unwrap();
    line.write_all(&[0x02, 0x00, 0x30, 0x03, 0x35]).unwrap();
    // Every latch caught but lock 2's; an item behind lock 2.
    assert_eq!(
        read_all(&mut line),
        [0x02, 0x00, 0x35, 0xFD, 0xFF, 0x02, 0x00, 0x03, 0x38]
    );
}

#[test]
fn a_cu16_answers_query_all_with_0x36() {
    let mut line = SimCu16::cu16(board(3), Instant::ZERO);
    line.write_all(&[0x02, 0x30, 0x32, 0x03, 0x67]).unwrap();
    assert_eq!(
        read_all(&mut line),
        [0x02, 0x30, 0x36, 0xFF, 0xFF, 0x00, 0x00, 0x03, 0x69]
    );
}

#[test]
fn a_cu48_answers_the_captured_layout() {
    let mut line = SimCu48::cu48(0, Instant::ZERO);
    for n in 1..48 {
        line.compartment_mut(Channel(n)).unwrap().force_door();
    }
    line.compartment_mut(Channel(0)).unwrap().force_door();
    line.compartment_mut(Channel(0))
        .unwrap()
        .place_item(10)
        .unwrap();
    line.compartment_mut(Channel(0)).unwrap().close_door();
    line.write_all(&[0x02, 0x00, 0x00, 0x60, 0x03, 0x65])
        .unwrap();
    // The capture "cell 1 latched, IR 1 sees an item".
    assert_eq!(
        read_all(&mut line),
        [
            0x02, 0x00, 0x00, 0x75, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x03, 0x7c
        ]
    );
}

#[test]
fn an_unlock_pulses_the_addressed_lock_and_is_not_answered() {
    let mut line = SimCu16::cu16(board(5), Instant::ZERO);
    line.write_all(&[0x02, 0x5F, 0x31, 0x03, 0x95]).unwrap();
    assert!(read_all(&mut line).is_empty(), "no answer on the line");
    assert_eq!(line.compartment(Channel(15)).unwrap().unlock_pulses(), 1);
    assert!(!line.compartment(Channel(15)).unwrap().is_latched());
    // The latch catches again when nobody opens the door.
    line.advance_to(Instant::from_secs(4));
    assert!(line.compartment(Channel(15)).unwrap().is_latched());
}

#[test]
fn requests_for_another_board_are_ignored() {
    let mut line = SimCu16::cu16(board(1), Instant::ZERO);
    line.write_all(&[0x02, 0x00, 0x30, 0x03, 0x35]).unwrap();
    line.write_all(&[0x02, 0x03, 0x31, 0x03, 0x39]).unwrap();
    assert!(read_all(&mut line).is_empty(), "no answer on the line");
    assert_eq!(line.compartment(Channel(3)).unwrap().unlock_pulses(), 0);
    assert_eq!(line.requests(), 0);
}

#[test]
fn a_request_cut_short_does_not_swallow_the_next_one() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    line.write_all(&[0x02, 0x00, 0x30]).unwrap();
    line.write_all(&[0x02, 0x00, 0x30, 0x03, 0x35]).unwrap();
    assert_eq!(read_all(&mut line).len(), 9);
    assert_eq!(line.requests(), 1);
}

#[test]
fn a_request_with_a_bad_checksum_is_ignored() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    line.write_all(&[0x02, 0x01, 0x31, 0x03, 0x38]).unwrap();
    assert_eq!(line.compartment(Channel(1)).unwrap().unlock_pulses(), 0);
    assert_eq!(line.requests(), 0);
}

#[test]
fn a_silent_board_carries_nothing_out() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    line.set_silent(true);
    let mut cu16 = Cu16::new(&mut line, board(0));
    cu16.unlock(Channel(0)).unwrap();
    assert_eq!(
        cu16.status(),
        Err(KerongError::Truncated {
            expected: 9,
            received: 0
        })
    );
    assert_eq!(line.compartment(Channel(0)).unwrap().unlock_pulses(), 0);
    line.set_silent(false);
    assert!(Cu16::new(&mut line, board(0)).status().is_ok());
}

#[test]
fn a_corrupted_answer_is_a_bad_checksum_and_the_next_is_clean() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    line.corrupt_next_answer();
    let mut cu16 = Cu16::new(&mut line, board(0));
    assert!(matches!(
        cu16.status(),
        Err(KerongError::BadChecksum { .. })
    ));
    assert!(cu16.status().is_ok());
}

#[test]
fn a_late_answer_arrives_after_the_timeout_and_is_drained_before_the_next_request() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    line.answer_next_late();
    assert_eq!(
        Cu16::new(&mut line, board(0)).status(),
        Err(KerongError::Truncated {
            expected: 9,
            received: 0
        })
    );
    line.compartment_mut(Channel(0)).unwrap().force_door();
    let status = Cu16::new(&mut line, board(0)).status().unwrap();
    assert_eq!(status.door(Channel(0)), Some(DoorState::Open));
}

#[test]
fn noise_on_the_line_is_read_before_the_answer_and_drained() {
    let mut line = SimCu16::cu16(board(0), Instant::ZERO);
    assert_eq!(line.inject_line_noise(&[0xAA; 8]), 8);
    assert_eq!(line.inject_line_noise(&[0xAA; 200]), 64);
    let mut cu16 = Cu16::new(&mut line, board(0));
    // Drained 16 bytes at a time, the line is given up on past 64.
    assert_eq!(cu16.status(), Err(KerongError::LineBusy { discarded: 72 }));
    // The line is quiet now.
    assert_eq!(
        cu16.status().unwrap().bulk_status().locked,
        ChannelBits(0xFFFF)
    );
}

#[test]
fn a_cu48_unlock_reaches_its_lock() {
    let mut line = SimCu48::cu48(4, Instant::ZERO);
    Cu48::new(&mut line, 4).unlock(Channel(47)).unwrap();
    line.advance_to(Instant::ZERO + Duration::from_millis(100));
    line.compartment_mut(Channel(47))
        .unwrap()
        .open_door()
        .unwrap();
    let status = Cu48::new(&mut line, 4).status().unwrap();
    assert_eq!(status.door(Channel(47)), Some(DoorState::Open));
    assert_eq!(status.door(Channel(46)), Some(DoorState::Closed));
}
