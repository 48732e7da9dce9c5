//! KR-CU16 against exact frames in both directions.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{ScriptedSerial, Step, expect, reply, reply_bytewise, silence, status_frame, sum};
use embedded_io::ErrorKind;
use locker_drivers::kerong::{
    Cu16, Cu16Address, Cu16StatusRequest, KerongError, LockBitPolarity, LockBoard,
};
use locker_drivers::{DoorSensor, Lock, PresenceSensor};
use locker_proto::{
    BulkStatus, Channel, ChannelBits, ChannelStatus, DoorState, LockState, Presence,
};

const QUERY_BOARD_0: [u8; 5] = [0x02, 0x00, 0x30, 0x03, 0x35];
const QUERY_ALL_BOARD_0: [u8; 5] = [0x02, 0x00, 0x32, 0x03, 0x37];

fn board(script: &[Step]) -> Cu16<ScriptedSerial> {
    Cu16::new(ScriptedSerial::new(script), Cu16Address::new(0).unwrap())
}

#[test]
fn querying_board_0_sends_the_documented_frame_and_reads_every_channel() {
    // Locks 1 and 16 latched, IR sees an item behind lock 2.
    let response = [0x02, 0x00, 0x35, 0x01, 0x80, 0x02, 0x00, 0x03, 0xBD];
    assert_eq!(sum(&response[..8]), 0xBD);
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&response)]);
    let status = cu16.status().unwrap();
    assert_eq!(
        status.bulk_status(),
        BulkStatus {
            channels: 16,
            door_open: ChannelBits(0x7FFE),
            locked: ChannelBits(0x8001),
            occupied: ChannelBits(0x0002),
            faulted: ChannelBits(0),
        }
    );
    assert_eq!(
        status.channel_status(Channel(1)),
        Some(ChannelStatus {
            channel: Channel(1),
            door: DoorState::Open,
            lock: LockState::Unlocked,
            presence: Presence::occupied(1, 1),
            fault: None,
            temperature: None,
        })
    );
    assert_eq!(status.lock(Channel(15)), Some(LockState::Locked));
    assert_eq!(status.lock(Channel(16)), None);
    cu16.release().done();
}

#[test]
fn unlocking_lock_index_1_of_board_0_sends_the_documented_frame() {
    let mut cu16 = board(&[expect(&[0x02, 0x01, 0x31, 0x03, 0x37])]);
    cu16.unlock(Channel(1)).unwrap();
    cu16.release().done();
}

#[test]
fn board_5_lock_15_is_addressed_in_one_byte() {
    let mut cu16 = Cu16::new(
        ScriptedSerial::new(&[expect(&[0x02, 0x5F, 0x31, 0x03, 0x95])]),
        Cu16Address::new(5).unwrap(),
    );
    cu16.unlock(Channel(15)).unwrap();
    cu16.release().done();
}

#[test]
fn a_board_address_above_15_cannot_be_built() {
    assert!(Cu16Address::new(16).is_none());
    assert_eq!(Cu16Address::new(15).map(Cu16Address::get), Some(15));
}

#[test]
fn unlocking_a_channel_the_board_lacks_sends_nothing() {
    let mut cu16 = board(&[]);
    assert_eq!(
        cu16.unlock(Channel(16)),
        Err(KerongError::NoSuchChannel {
            channel: 16,
            last: 15
        })
    );
    assert!(cu16.channel(Channel(16)).is_err());
    cu16.release().done();
}

#[test]
fn a_response_arriving_byte_by_byte_is_reassembled() {
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply_bytewise(&status_frame(0x00, 0xFFFF, 0)),
    ]);
    assert_eq!(
        cu16.status().unwrap().bulk_status().locked,
        ChannelBits(0xFFFF)
    );
    cu16.release().done();
}

#[test]
fn a_response_cut_short_by_the_timeout_is_truncated() {
    let full = status_frame(0x00, 0, 0);
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&full[..5])]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::Truncated {
            expected: 9,
            received: 5
        })
    );
    cu16.release().done();
}

#[test]
fn a_silent_board_is_truncated_at_zero_bytes() {
    let mut cu16 = board(&[expect(&QUERY_BOARD_0)]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::Truncated {
            expected: 9,
            received: 0
        })
    );
    cu16.release().done();
}

#[test]
fn a_flipped_bit_is_a_bad_checksum() {
    let mut frame = status_frame(0x00, 0x0001, 0);
    frame[3] ^= 0x04;
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::BadChecksum {
            computed: 0x3F,
            received: 0x3B
        })
    );
    cu16.release().done();
}

#[test]
fn a_clean_answer_from_board_1_is_a_wrong_address() {
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&status_frame(0x10, 0, 0))]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::WrongAddress {
            expected: 0x00,
            received: 0x10
        })
    );
    cu16.release().done();
}

#[test]
fn a_frame_that_does_not_start_with_stx_is_rejected() {
    let mut frame = status_frame(0x00, 0, 0);
    frame[0] = 0xFF;
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(cu16.status(), Err(KerongError::BadStart { received: 0xFF }));
    cu16.release().done();
}

#[test]
fn a_frame_without_etx_is_rejected() {
    let mut frame = status_frame(0x00, 0, 0);
    frame[7] = 0x00;
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(cu16.status(), Err(KerongError::BadEnd { received: 0x00 }));
    cu16.release().done();
}

#[test]
fn a_clean_frame_with_another_command_is_rejected() {
    let mut frame = vec![0x02, 0x00, 0x36, 0x00, 0x00, 0x00, 0x00, 0x03];
    frame.push(sum(&frame));
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&frame)]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::UnexpectedCommand {
            expected: 0x35,
            received: 0x36
        })
    );
    cu16.release().done();
}

#[test]
fn a_serial_error_is_carried_unchanged() {
    let mut cu16 = board(&[expect(&QUERY_BOARD_0), Step::Fail(ErrorKind::TimedOut)]);
    assert_eq!(cu16.status(), Err(KerongError::Serial(ErrorKind::TimedOut)));
    cu16.release().done();
}

#[test]
fn inverted_polarity_reads_a_set_bit_as_released() {
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0x0001, 0)),
    ])
    .with_polarity(LockBitPolarity::SetMeansUnlocked);
    let status = cu16.status().unwrap();
    assert_eq!(status.lock(Channel(0)), Some(LockState::Unlocked));
    assert_eq!(status.door(Channel(1)), Some(DoorState::Closed));
    assert_eq!(status.bulk_status().locked, ChannelBits(0xFFFE));
    cu16.release().done();
}

#[test]
fn a_channel_is_a_lock_a_door_sensor_and_a_presence_sensor() {
    let mut cu16 = board(&[
        expect(&[0x02, 0x03, 0x31, 0x03, 0x39]),
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0xFFF7, 0)),
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0xFFF7, 0)),
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0xFFFF, 0x0008)),
    ]);
    let mut ch = cu16.channel(Channel(3)).unwrap();
    ch.unlock().unwrap();
    assert_eq!(ch.lock_state().unwrap(), LockState::Unlocked);
    assert_eq!(ch.door_state().unwrap(), DoorState::Open);
    assert_eq!(ch.presence().unwrap(), Presence::occupied(1, 1));
    cu16.release().done();
}

#[test]
fn an_ir_sensor_blocked_while_empty_is_calibrated_out_of_the_bulk_status() {
    let blocked = status_frame(0x00, 0xFFFF, 0x0004);
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply(&blocked),
        expect(&QUERY_BOARD_0),
        reply(&blocked),
        expect(&QUERY_BOARD_0),
        reply(&blocked),
    ]);
    let mut ch = cu16.channel(Channel(2)).unwrap();
    assert_eq!(ch.calibrate_empty().unwrap(), 1);
    assert_eq!(ch.baseline(), 1);
    assert_eq!(ch.presence().unwrap(), Presence::empty(0, 1));
    assert_eq!(
        cu16.status().unwrap().bulk_status().occupied,
        ChannelBits(0)
    );
    cu16.release().done();
}

#[test]
fn a_failed_calibration_keeps_the_previous_baseline() {
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0xFFFF, 0x0004)),
        expect(&QUERY_BOARD_0),
    ]);
    let mut ch = cu16.channel(Channel(2)).unwrap();
    ch.calibrate_empty().unwrap();
    assert!(ch.calibrate_empty().is_err());
    assert_eq!(ch.baseline(), 1);
    cu16.release().done();
}

#[test]
fn query_all_sends_0x32_and_reads_the_0x36_answer() {
    // Locks 1 and 16 latched, IR sees an item behind lock 2.
    let answer = [0x02, 0x00, 0x36, 0x01, 0x80, 0x02, 0x00, 0x03, 0xBE];
    assert_eq!(sum(&answer[..8]), 0xBE);
    let mut cu16 = board(&[expect(&QUERY_ALL_BOARD_0), reply(&answer)])
        .with_status_request(Cu16StatusRequest::QueryAll);
    let bulk = cu16.status().unwrap().bulk_status();
    assert_eq!(bulk.locked, ChannelBits(0x8001));
    assert_eq!(bulk.occupied, ChannelBits(0x0002));
    cu16.release().done();
}

#[test]
fn query_all_of_board_9_is_addressed_to_the_board() {
    let mut frame = vec![0x02, 0x90, 0x36, 0xFF, 0xFF, 0x00, 0x00, 0x03];
    frame.push(sum(&frame));
    let mut cu16 = Cu16::new(
        ScriptedSerial::new(&[expect(&[0x02, 0x90, 0x32, 0x03, 0xC7]), reply(&frame)]),
        Cu16Address::new(9).unwrap(),
    )
    .with_status_request(Cu16StatusRequest::QueryAll);
    assert_eq!(
        cu16.status().unwrap().bulk_status().locked,
        ChannelBits(0xFFFF)
    );
    cu16.release().done();
}

#[test]
fn a_0x35_answer_to_query_all_is_an_unexpected_command() {
    let mut cu16 = board(&[expect(&QUERY_ALL_BOARD_0), reply(&status_frame(0x00, 0, 0))])
        .with_status_request(Cu16StatusRequest::QueryAll);
    assert_eq!(
        cu16.status(),
        Err(KerongError::UnexpectedCommand {
            expected: 0x36,
            received: 0x35
        })
    );
    cu16.release().done();
}

#[test]
fn a_late_answer_is_discarded_and_the_fresh_request_reads_the_fresh_answer() {
    let stale = status_frame(0x00, 0xFFFF, 0x0000); // every lock latched
    let fresh = status_frame(0x00, 0xFFFE, 0x0001); // lock 1 released, an item behind it
    let mut cu16 = board(&[
        expect(&QUERY_BOARD_0),
        // The board misses the timeout; its answer arrives after the driver gave up.
        silence(),
        reply(&stale),
        expect(&QUERY_BOARD_0),
        reply(&fresh),
    ]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::Truncated {
            expected: 9,
            received: 0
        })
    );
    let bulk = cu16.status().unwrap().bulk_status();
    assert_eq!(bulk.locked, ChannelBits(0xFFFE));
    assert_eq!(bulk.occupied, ChannelBits(0x0001));
    cu16.release().done();
}

#[test]
fn a_late_answer_pending_before_an_unlock_is_discarded_before_the_unlock_is_sent() {
    let mut cu16 = board(&[
        reply(&status_frame(0x00, 0xFFFF, 0)),
        expect(&[0x02, 0x01, 0x31, 0x03, 0x37]),
        reply(&status_frame(0x00, 0xFFFD, 0)), // a firmware that answers unlocks
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0xFFFD, 0x0002)),
    ]);
    cu16.unlock(Channel(1)).unwrap();
    let bulk = cu16.status().unwrap().bulk_status();
    assert_eq!(bulk.occupied, ChannelBits(0x0002));
    cu16.release().done();
}

#[test]
fn a_read_timing_out_with_an_error_counts_as_a_quiet_line() {
    let mut cu16 = board(&[
        Step::Fail(ErrorKind::TimedOut),
        expect(&QUERY_BOARD_0),
        reply(&status_frame(0x00, 0x0001, 0)),
    ]);
    assert_eq!(cu16.status().unwrap().bulk_status().locked, ChannelBits(1));
    cu16.release().done();
}

#[test]
fn a_line_that_never_falls_quiet_sends_nothing() {
    let noise = [0x55u8; 80];
    let mut cu16 = board(&[reply_bytewise(&noise)]);
    assert_eq!(cu16.status(), Err(KerongError::LineBusy { discarded: 65 }));
    let port = cu16.release();
    // The request was never written: the script's remaining noise is all that is left.
    assert!(matches!(port.next_step(), Some(Step::Reply { .. })));
}

#[test]
fn a_serial_error_while_clearing_the_line_is_carried_unchanged() {
    let mut cu16 = board(&[Step::Fail(ErrorKind::BrokenPipe)]);
    assert_eq!(
        cu16.status(),
        Err(KerongError::Serial(ErrorKind::BrokenPipe))
    );
    cu16.release().done();
}

mod any_bytes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever comes back on the line, the driver answers with a value
        /// or a typed error, and a value only for a well-formed frame.
        #[test]
        fn no_response_makes_the_driver_panic_or_accept_garbage(
            reply_bytes in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&reply_bytes)]);
            let result = cu16.status();
            if result.is_ok() {
                prop_assert!(reply_bytes.len() >= 9);
                let f = &reply_bytes[..9];
                prop_assert_eq!((f[0], f[1], f[2], f[7]), (0x02, 0x00, 0x35, 0x03));
                prop_assert_eq!(f[8], sum(&f[..8]));
            }
        }

        /// A valid frame from board 0 always decodes to the bits it carries.
        #[test]
        fn every_valid_status_frame_round_trips(locks in any::<u16>(), ir in any::<u16>()) {
            let mut cu16 = board(&[expect(&QUERY_BOARD_0), reply(&status_frame(0x00, locks, ir))]);
            let bulk = cu16.status().unwrap().bulk_status();
            prop_assert_eq!(bulk.locked, ChannelBits(u32::from(locks)));
            prop_assert_eq!(bulk.door_open, ChannelBits(u32::from(!locks)));
            prop_assert_eq!(bulk.occupied, ChannelBits(u32::from(ir)));
            cu16.release().done();
        }
    }
}
