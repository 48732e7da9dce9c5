//! The tag on the backend's messages is exactly the documented MAC, computed
//! here from its definition with the plain primitives, so a backend in
//! another language can check its own implementation against these values.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use locker_domain::bank::{BankId, BankKeys};
use locker_domain::uplink::{sign_downward, verify_downward};
use locker_proto::CompartmentId;
use locker_proto::uplink::{Downward, MAX_POSTCARD_LEN, MessageId, Scope};
use sha2::Sha256;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MAC as `DownEnvelope`'s docs define it, from the secret up.
fn reference_tag(secret: &[u8; 32], bank: u32, encoded_without_tag: &[u8]) -> [u8; 16] {
    let hk = Hkdf::<Sha256>::new(Some(b"locker/v1/bank-keys"), secret);
    let mut key = [0u8; 32];
    hk.expand_multi_info(&[b"locker/v1/downward", &bank.to_le_bytes()], &mut key)
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(b"locker/v1/downward");
    mac.update(&bank.to_le_bytes());
    mac.update(encoded_without_tag);
    let full = mac.finalize().into_bytes();
    full[..16].try_into().unwrap()
}

#[test]
fn the_tag_covers_every_byte_of_the_message_before_it_as_documented() {
    let secret = [0x5a; 32];
    let keys = BankKeys::derive(BankId(7), &secret);
    let message = sign_downward(
        &keys,
        MessageId::first_of_epoch(3).next(),
        Downward::ChangeAvailability {
            scope: Scope::Compartment(CompartmentId(12)),
            available: false,
        },
    );
    let mut buf = [0u8; MAX_POSTCARD_LEN];
    let bytes = message.to_postcard(&mut buf).unwrap().to_vec();
    // The tag is the last 17 bytes: a length byte, 16 bytes.
    let (covered, trailer) = bytes.split_at(bytes.len() - 17);
    assert_eq!(trailer[0], 16);
    assert_eq!(trailer[1..], message.tag.0);
    assert_eq!(reference_tag(&secret, 7, covered), message.tag.0);
    // Test vector for other implementations.
    assert_eq!(hex(covered), "01818080803006010c00");
    assert_eq!(hex(&message.tag.0), VECTOR_TAG);
    // Every byte counts: flip any one and the tag no longer fits.
    for i in 0..covered.len() {
        let mut flipped = covered.to_vec();
        flipped[i] ^= 0x01;
        assert_ne!(
            reference_tag(&secret, 7, &flipped),
            message.tag.0,
            "byte {i}"
        );
    }
    assert!(verify_downward(&keys, &message));
}

/// The tag of the message above under secret `[0x5a; 32]`, bank 7.
const VECTOR_TAG: &str = "82bd73a6fce63cc681c95079082b2fd5";
