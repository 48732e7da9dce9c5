//! Arbitrary bytes presented as a saved bank snapshot.
//!
//! Invariants: restoring never panics; a refused snapshot leaves the bank
//! as fresh as it was; a snapshot that restores is
//! consistent books, so the restored bank snapshots again and that snapshot
//! restores to the same compartments. Because a fuzzer cannot guess a
//! checksum, the same input is also framed as the body of a snapshot of the
//! fuzzed format version (2, 3, or any other) with the right magic, layout
//! fingerprint and checksum, so the record decoders behind the checksum are
//! explored too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use locker_domain::bank::{
    Bank, BankId, BankKeys, Compartment, CompartmentView, Policy, SNAPSHOT_MAGIC,
};
use locker_proto::time::Instant;
use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};

fn keys() -> BankKeys {
    BankKeys::derive(BankId(9), &[0x42; 32])
}

fn layout() -> Vec<Compartment> {
    let node = NodeAddr(1);
    let dims = Dimensions::new(420, 80, 600);
    vec![
        Compartment::new(CompartmentId(1), node, Channel(0), SizeClass::Small, dims),
        Compartment::new(CompartmentId(2), node, Channel(1), SizeClass::Small, dims),
        Compartment::new(CompartmentId(3), node, Channel(2), SizeClass::Medium, dims),
    ]
}

fn fresh() -> Bank<'static> {
    Bank::on_heap(&layout(), Policy::default(), keys()).unwrap()
}

fn restore(bytes: &[u8]) -> Option<Bank<'static>> {
    let mut bank = fresh();
    match bank.restore(bytes, Instant::from_secs(7)) {
        Ok(()) => Some(bank),
        Err(_) => {
            // Refused: the bank is still the fresh one it was.
            assert_eq!(books(&bank), books(&fresh()));
            assert_eq!(bank.next_audit_seq(), 0);
            None
        }
    }
}

fn books(bank: &Bank<'_>) -> Vec<CompartmentView> {
    bank.views().collect()
}

fn check(bytes: &[u8]) {
    let Some(bank) = restore(bytes) else {
        return;
    };
    let again = bank.snapshot_to_vec().expect("a restored bank snapshots");
    let twice = restore(&again).expect("a restored bank's snapshot restores");
    assert_eq!(books(&bank), books(&twice));
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let Some((version, body)) = data.split_first() else {
        return;
    };
    let mut framed = Vec::with_capacity(body.len() + 13);
    framed.extend_from_slice(&SNAPSHOT_MAGIC);
    framed.push(version % 5);
    framed.extend_from_slice(&fresh().layout().fingerprint().to_le_bytes());
    framed.extend_from_slice(body);
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&framed);
    framed.extend_from_slice(&crc.to_le_bytes());
    check(&framed);
});
