//! Arbitrary bytes as an uplink message, upward and downward, in postcard
//! and in JSON: decoding never panics, and whatever decodes re-encodes and
//! decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use locker_proto::uplink::{DownEnvelope, MAX_POSTCARD_LEN, UpEnvelope};

fn postcard_roundtrip<T>(
    bytes: &[u8],
    decode: fn(&[u8]) -> Option<T>,
    encode: fn(&T, &mut [u8]) -> Option<usize>,
) where
    T: PartialEq + std::fmt::Debug,
{
    if let Some(message) = decode(bytes) {
        let mut buf = [0u8; MAX_POSTCARD_LEN];
        let len = encode(&message, &mut buf).expect("a decoded message encodes");
        assert_eq!(decode(&buf[..len]).as_ref(), Some(&message));
    }
}

fn json_roundtrip<T>(bytes: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(message) = serde_json::from_slice::<T>(bytes) {
        let text = serde_json::to_string(&message).expect("a decoded message encodes");
        let again: T = serde_json::from_str(&text).expect("its encoding decodes");
        assert_eq!(again, message);
    }
}

fuzz_target!(|bytes: &[u8]| {
    postcard_roundtrip(
        bytes,
        |b| UpEnvelope::from_postcard(b).ok(),
        |m, buf| m.to_postcard(buf).ok().map(|s| s.len()),
    );
    postcard_roundtrip(
        bytes,
        |b| DownEnvelope::from_postcard(b).ok(),
        |m, buf| m.to_postcard(buf).ok().map(|s| s.len()),
    );
    json_roundtrip::<UpEnvelope>(bytes);
    json_roundtrip::<DownEnvelope>(bytes);
});
