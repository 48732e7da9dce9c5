//! Arbitrary bytes presented as an offline pickup token.
//!
//! Invariants: decoding never panics, and a token that decodes re-encodes to
//! exactly the input; redeeming any bytes at a small bank never panics, and
//! the only bytes that open its door are a token the bank's key signed.
//! Because a fuzzer cannot forge a tag, the same input is also read as token
//! fields that the harness signs with the bank's key, so the checks behind
//! the tag (bank, incarnation, expiry, compartment, parcel) are explored too: such a
//! token opens the door only when every field is right.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use locker_domain::bank::codes::{CodeHash, KeypadId};
use locker_domain::bank::{
    Bank, BankId, BankKeys, Compartment, Incarnation, OfflineToken, ParcelId, ParcelKind,
    ParcelNeeds, Policy, Witnesses,
};
use locker_proto::time::Instant;
use locker_proto::{Channel, CompartmentId, Dimensions, Event, NodeAddr, Presence, SizeClass};

const NOW: Instant = Instant::from_secs(10);
/// The bank's incarnation.
const LIFE: Incarnation = Incarnation(0x5eed_0001);

fn keys() -> BankKeys {
    BankKeys::derive(BankId(9), &[0x42; 32])
}

/// Two compartments; parcel 1 waits in compartment 1; wall clock at Unix 1e9.
fn bank() -> &'static Bank<'static> {
    static BANK: OnceLock<Bank<'static>> = OnceLock::new();
    BANK.get_or_init(|| {
        let node = NodeAddr(1);
        let dims = Dimensions::new(420, 80, 600);
        let list = [
            Compartment::new(CompartmentId(1), node, Channel(0), SizeClass::Small, dims),
            Compartment::new(CompartmentId(2), node, Channel(1), SizeClass::Small, dims),
        ];
        let mut bank = Bank::on_heap(&list, Policy::default(), keys()).unwrap();
        bank.begin_incarnation(LIFE, &Witnesses::default(), NOW)
            .unwrap();
        while bank.poll().is_some() {}
        let wall = chrono::DateTime::from_timestamp(1_000_000_000, 0)
            .unwrap()
            .naive_utc();
        bank.set_wall_clock(wall, NOW).unwrap();
        let hash = CodeHash::from_bytes([7; 16]);
        let needs = ParcelNeeds::size(SizeClass::Small);
        let r = bank
            .reserve_with_code_hash(needs, ParcelKind::Delivery, hash, NOW)
            .unwrap();
        while bank.poll().is_some() {}
        bank.start_deposit(r.compartment, locker_domain::bank::StaffId(1), NOW)
            .unwrap();
        while bank.poll().is_some() {}
        let ch = Channel(0);
        for e in [
            Event::DoorOpened {
                channel: ch,
                commanded: true,
            },
            Event::PresenceChanged {
                channel: ch,
                presence: Presence::occupied(250, 10),
            },
            Event::DoorClosed { channel: ch },
        ] {
            bank.handle_node_event(node, &e, NOW).unwrap();
            while bank.poll().is_some() {}
        }
        bank
    })
}

fuzz_target!(|data: &[u8]| {
    let decoded = OfflineToken::decode(data);
    if let Ok(token) = decoded {
        assert_eq!(&token.encode()[..], data);
    }
    let mut raw = bank().to_heap();
    let result = raw.redeem_token(data, KeypadId(0), NOW);
    if result.is_ok() {
        let token = decoded.expect("an accepted token decodes");
        assert!(token.verify(&keys()), "an unsigned token opened a door");
    }
    // Whatever happened, the bank keeps answering once its outputs are out.
    while raw.poll().is_some() {}
    let _ = raw.redeem_token(data, KeypadId(1), NOW);

    // The same bytes as fields, signed by the backend.
    let mut fields = [0u8; 17];
    for (f, d) in fields.iter_mut().zip(data) {
        *f = *d;
    }
    let [
        b0,
        b1,
        b2,
        b3,
        c0,
        c1,
        p0,
        p1,
        p2,
        p3,
        e0,
        e1,
        e2,
        e3,
        e4,
        e5,
        i0,
    ] = fields;
    // Mostly the bank's own incarnation, sometimes an earlier one.
    let incarnation = if i0 & 1 == 0 {
        LIFE
    } else {
        Incarnation(LIFE.0 ^ u32::from(i0))
    };
    let signed = OfflineToken::issue(
        &BankKeys::derive(
            BankId(u32::from_le_bytes([b0, b1, b2, b3]) % 11),
            &[0x42; 32],
        ),
        incarnation,
        CompartmentId(u16::from_le_bytes([c0, c1]) % 4),
        ParcelId(u32::from_le_bytes([p0, p1, p2, p3]) % 3),
        u64::from_le_bytes([e0, e1, e2, e3, e4, e5, 0, 0]) % 2_000_000_000,
    );
    let mut bank = bank().to_heap();
    let opened = bank
        .redeem_token(&signed.encode(), KeypadId(2), NOW)
        .is_ok();
    let right = signed.bank == BankId(9)
        && signed.incarnation == LIFE
        && signed.compartment == CompartmentId(1)
        && signed.parcel == ParcelId(1)
        && signed.expires_at > 1_000_000_000;
    assert_eq!(opened, right, "{signed:?}");
});
