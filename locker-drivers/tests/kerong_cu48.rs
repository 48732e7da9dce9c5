//! KR-CU48 against the frames captured in AshurkovAV/KerongConsole.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{ScriptedSerial, expect, reply, reply_bytewise, sum};
use locker_drivers::kerong::{Cu48, KerongError, LockBoard};
use locker_drivers::{DoorSensor, Lock, PresenceSensor};
use locker_proto::{Channel, ChannelBits, DoorState, LockState, Presence};

const QUERY_BOARD_0: [u8; 6] = [0x02, 0x00, 0x00, 0x60, 0x03, 0x65];

/// Captured: cell 1 latched, IR 1 sees an item.
const CAPTURE_CELL_1: [u8; 18] = [
    0x02, 0x00, 0x00, 0x75, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x7c,
];

/// Captured: cell 14 latched ("02 00 00 75 00 20 … 03 9a").
const CAPTURE_CELL_14: [u8; 18] = [
    0x02, 0x00, 0x00, 0x75, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x03, 0x9a,
];

fn board(script: &[common::Step]) -> Cu48<ScriptedSerial> {
    Cu48::new(ScriptedSerial::new(script), 0x00)
}

#[test]
fn the_captured_status_of_cell_1_reads_latched_with_an_item() {
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&CAPTURE_CELL_1)]);
    let status = cu48.status().unwrap();
    assert_eq!(status.channels(), 48);
    assert_eq!(status.lock(Channel(0)), Some(LockState::Locked));
    assert_eq!(status.door(Channel(1)), Some(DoorState::Open));
    assert_eq!(status.item_detected(Channel(0)), Some(true));
    assert_eq!(status.lock(Channel(47)), Some(LockState::Unlocked));
    assert_eq!(status.lock(Channel(48)), None);
    cu48.release().done();
}

#[test]
fn the_captured_status_of_cell_14_sets_bit_13() {
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply_bytewise(&CAPTURE_CELL_14)]);
    let status = cu48.status().unwrap();
    assert_eq!(status.bulk_status().locked, ChannelBits(1 << 13));
    cu48.release().done();
}

#[test]
fn unlocking_cell_two_sends_the_captured_frame() {
    let mut cu48 = board(&[expect(&[0x02, 0x00, 0x01, 0x61, 0x03, 0x67])]);
    cu48.unlock(Channel(1)).unwrap();
    cu48.release().done();
}

#[test]
fn unlocking_the_last_lock_of_board_3() {
    let frame = [0x02, 0x03, 0x2F, 0x61, 0x03];
    let mut cu48 = Cu48::new(
        ScriptedSerial::new(&[expect(&[frame.as_slice(), &[sum(&frame)]].concat())]),
        3,
    );
    cu48.unlock(Channel(47)).unwrap();
    assert_eq!(
        cu48.unlock(Channel(48)),
        Err(KerongError::NoSuchChannel {
            channel: 48,
            last: 47
        })
    );
    cu48.release().done();
}

#[test]
fn the_upper_half_of_a_cu48_is_a_node_of_24_channels() {
    let mut locks = [0u8; 6];
    locks[5] = 0x80; // channel 47
    let mut frame = vec![0x02, 0x00, 0x00, 0x75];
    frame.extend_from_slice(&locks);
    frame.extend_from_slice(&[0, 0, 0, 0x01, 0, 0]); // IR of channel 24
    frame.push(0x03);
    frame.push(sum(&frame));
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    let upper = cu48.status().unwrap().bulk_status_window(Channel(24), 24);
    assert_eq!(upper.channels, 24);
    assert_eq!(upper.locked, ChannelBits(1 << 23));
    assert_eq!(upper.occupied, ChannelBits(1));
    assert_eq!(upper.door_open, ChannelBits(0x007F_FFFF));
    cu48.release().done();
}

#[test]
fn a_truncated_status_is_reported_with_its_length() {
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&CAPTURE_CELL_1[..10])]);
    assert_eq!(
        cu48.status(),
        Err(KerongError::Truncated {
            expected: 18,
            received: 10
        })
    );
    cu48.release().done();
}

#[test]
fn a_corrupted_capture_is_a_bad_checksum() {
    let mut frame = CAPTURE_CELL_1;
    frame[9] = 0x40;
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(
        cu48.status(),
        Err(KerongError::BadChecksum {
            computed: 0xbc,
            received: 0x7c
        })
    );
    cu48.release().done();
}

#[test]
fn a_clean_answer_from_board_1_is_a_wrong_address() {
    let mut frame = CAPTURE_CELL_1;
    frame[1] = 0x01;
    frame[17] = sum(&frame[..17]);
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(
        cu48.status(),
        Err(KerongError::WrongAddress {
            expected: 0x00,
            received: 0x01
        })
    );
    cu48.release().done();
}

#[test]
fn the_undocumented_0x77_frame_is_an_unexpected_command() {
    // Captured as is; its meaning is not documented anywhere public.
    let frame = [
        0x02, 0x00, 0x0a, 0x77, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x03, 0x88,
    ];
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(
        cu48.status(),
        Err(KerongError::UnexpectedCommand {
            expected: 0x00,
            received: 0x0a
        })
    );
    cu48.release().done();
}

#[test]
fn an_unread_reply_to_an_unlock_is_discarded_before_the_next_query() {
    // The undocumented 0x77 frame, as a board might send after an unlock.
    let reply_to_unlock = [
        0x02, 0x00, 0x0a, 0x77, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x03, 0x88,
    ];
    let mut cu48 = board(&[
        expect(&[0x02, 0x00, 0x00, 0x61, 0x03, 0x66]),
        reply(&reply_to_unlock),
        expect(&QUERY_BOARD_0),
        reply(&CAPTURE_CELL_14),
    ]);
    cu48.unlock(Channel(0)).unwrap();
    assert_eq!(
        cu48.status().unwrap().bulk_status().locked,
        ChannelBits(1 << 13)
    );
    cu48.release().done();
}

#[test]
fn a_missing_etx_is_a_bad_end() {
    let mut frame = CAPTURE_CELL_1;
    frame[16] = 0x13;
    let mut cu48 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(cu48.status(), Err(KerongError::BadEnd { received: 0x13 }));
    cu48.release().done();
}

#[test]
fn channel_47_is_a_lock_a_door_and_a_presence_sensor() {
    let mut frame = vec![
        0x02, 0x00, 0x00, 0x75, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0x80, 0x03,
    ];
    frame.push(sum(&frame));
    let mut cu48 = board(&[
        expect(&[0x02, 0x00, 0x2F, 0x61, 0x03, 0x95]),
        expect(&QUERY_BOARD_0),
        reply(&frame),
        expect(&QUERY_BOARD_0),
        reply(&frame),
        expect(&QUERY_BOARD_0),
        reply(&frame),
    ]);
    let mut ch = cu48.channel(Channel(47)).unwrap();
    ch.unlock().unwrap();
    assert_eq!(ch.lock_state().unwrap(), LockState::Locked);
    assert_eq!(ch.door_state().unwrap(), DoorState::Closed);
    assert_eq!(ch.presence().unwrap(), Presence::occupied(1, 1));
    cu48.release().done();
}
