//! The tag on the backend's messages is exactly the documented MAC, computed
//! here from its definition with the plain primitives, so a backend in
//! another language can check its own implementation against these values;
//! and every MAC in the uplink's golden files (made from `spec/uplink.md`
//! alone by `locker-proto/tests/uplink_golden.rs`) is exactly what this
//! crate computes: the downward tags (`sign_downward`, `verify_downward`),
//! the remote open's tag, the code hash, an offline token, a deposit code
//! and the layout fingerprint.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use locker_domain::bank::codes::{CodeHash, PickupCode};
use locker_domain::bank::{
    Bank, BankId, BankKeys, Books, Compartment, CompartmentFlags, DepositCode, Incarnation,
    OfflineToken, ParcelId, Policy, RemoteOpen,
};
use locker_domain::uplink::{sign_downward, verify_downward};
use locker_proto::uplink::{DownEnvelope, Downward, MAX_POSTCARD_LEN, MessageId, Scope};
use locker_proto::{Channel, CompartmentId, Dimensions, NodeAddr, SizeClass};
use serde_json::Value;
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

// ---------------------------------------------------------------------------
// The uplink's golden files, against this crate.
// ---------------------------------------------------------------------------

fn golden(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../locker-proto/tests/golden/uplink")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn number(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// The published test secret and bank of the golden files.
fn golden_keys(vectors: &Value) -> BankKeys {
    let secret: [u8; 32] = unhex(vectors["bank_secret"].as_str().unwrap())
        .try_into()
        .unwrap();
    BankKeys::derive(BankId(number(&vectors["bank_number"]) as u32), &secret)
}

#[test]
fn every_downward_golden_message_carries_the_tag_this_crate_makes() {
    let vectors: Value = serde_json::from_str(&golden("mac_vectors.json")).unwrap();
    let keys = golden_keys(&vectors);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../locker-proto/tests/golden/uplink");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let Some(name) = file.strip_suffix(".postcard.hex") else {
            continue;
        };
        let json: Value = serde_json::from_str(&golden(&format!("{name}.json"))).unwrap();
        if json.get("tag").is_none() {
            continue; // upward: not tagged
        }
        let message = DownEnvelope::from_postcard(&unhex(&golden(&file))).unwrap();
        assert!(verify_downward(&keys, &message), "{name}: the tag verifies");
        let signed = sign_downward(&keys, message.id, message.body.clone());
        assert_eq!(
            signed, message,
            "{name}: sign_downward makes the same message"
        );
        let from_json: DownEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(from_json, message, "{name}: JSON and postcard agree");
        if let Downward::RemoteOpen(open) = &message.body {
            let request = RemoteOpen::signed(
                &keys,
                Incarnation(open.incarnation),
                open.compartment,
                open.request_id,
            );
            assert_eq!(request.tag, open.tag.0, "{name}: the remote open's tag");
        }
        checked += 1;
    }
    assert_eq!(checked, 16);
    let downward = &vectors["downward_tag"];
    let message = sign_downward(
        &keys,
        MessageId(number(&downward["id"])),
        Downward::GetDiagnostics,
    );
    assert_eq!(hex(&message.tag.0), downward["tag"].as_str().unwrap());
}

#[test]
fn the_mac_vectors_of_the_spec_are_what_this_crate_computes() {
    let vectors: Value = serde_json::from_str(&golden("mac_vectors.json")).unwrap();
    let keys = golden_keys(&vectors);
    let incarnation = Incarnation(number(&vectors["incarnation"]) as u32);

    let open = &vectors["remote_open_tag"];
    let compartment = CompartmentId(number(&open["compartment"]) as u16);
    let tag = RemoteOpen::signed(&keys, incarnation, compartment, number(&open["request_id"])).tag;
    assert_eq!(hex(&tag), open["tag"].as_str().unwrap());

    let code = &vectors["code_hash"];
    let typed = PickupCode::parse(code["code"].as_str().unwrap()).unwrap();
    let hash = CodeHash::of(&keys, &typed).to_bytes();
    assert_eq!(hex(&hash), code["hash"].as_str().unwrap());
    let announce: Value = serde_json::from_str(&golden("announce_parcel.json")).unwrap();
    assert_eq!(
        announce["body"]["announce_parcel"]["credential"]["code_hash"].as_str(),
        Some(hex(&hash).as_str()),
        "announce_parcel carries the hash of the published code"
    );

    let t = &vectors["offline_token"];
    let token = OfflineToken::issue(
        &keys,
        incarnation,
        CompartmentId(number(&t["compartment"]) as u16),
        ParcelId(number(&t["parcel"]) as u32),
        number(&t["expires_at"]),
    );
    assert_eq!(hex(&token.encode()), t["token"].as_str().unwrap());
    assert!(token.verify(&keys));

    let d = &vectors["deposit_code"];
    let code = DepositCode::for_parcel(
        &keys,
        incarnation,
        CompartmentId(number(&d["compartment"]) as u16),
        ParcelId(number(&d["parcel"]) as u32),
    );
    assert_eq!(code.to_string(), d["code"].as_str().unwrap());
}

#[test]
fn the_golden_layout_fingerprint_is_the_banks() {
    let vectors: Value = serde_json::from_str(&golden("mac_vectors.json")).unwrap();
    let page: Value = serde_json::from_str(&golden("layout.json")).unwrap();
    let boot: Value = serde_json::from_str(&golden("boot_notification.json")).unwrap();
    let size = |s: &str| match s {
        "Small" => SizeClass::Small,
        "Medium" => SizeClass::Medium,
        "Large" => SizeClass::Large,
        _ => SizeClass::ExtraLarge,
    };
    let compartments: Vec<Compartment> = page["body"]["layout"]["compartments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let inner = &c["inner"];
            let mut flags = CompartmentFlags::NONE;
            if c["refrigerated"] == true {
                flags = flags.union(CompartmentFlags::REFRIGERATED);
            }
            if c["accessible"] == true {
                flags = flags.union(CompartmentFlags::ACCESSIBLE);
            }
            Compartment::new(
                CompartmentId(number(&c["id"]) as u16),
                NodeAddr(number(&c["node"]) as u8),
                Channel(number(&c["channel"]) as u8),
                size(c["size"].as_str().unwrap()),
                Dimensions::new(
                    number(&inner["width_mm"]) as u16,
                    number(&inner["height_mm"]) as u16,
                    number(&inner["depth_mm"]) as u16,
                ),
            )
            .with_flags(flags)
        })
        .collect();
    let mut books = Books::<8>::new();
    let bank = Bank::new(
        &mut books,
        &compartments,
        Policy::default(),
        golden_keys(&vectors),
    )
    .unwrap();
    assert_eq!(
        u64::from(bank.layout().fingerprint()),
        number(&boot["body"]["boot_notification"]["layout_fingerprint"])
    );
}
