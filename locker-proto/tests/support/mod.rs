//! What the golden-file and wire tests share: their files, hex, and a COBS
//! of their own (written from the spec, not the crate's, so the crate's is
//! checked against it).
#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// `tests/golden/<kind>` of this crate.
pub fn golden_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind)
}

/// Whether the golden files are being rewritten (`UPDATE_GOLDEN=1`).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// Lowercase hex, no separator.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

/// The bytes of `text`'s hex digits (surrounding whitespace ignored).
pub fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// COBS-encodes `raw` (at most 253 bytes) and appends the delimiter.
pub fn cobs_encode(raw: &[u8]) -> Vec<u8> {
    assert!(raw.len() <= 253);
    let mut out = vec![0u8];
    let mut code_at = 0;
    for &b in raw {
        if b == 0 {
            out[code_at] = (out.len() - code_at) as u8;
            code_at = out.len();
            out.push(0);
        } else {
            out.push(b);
        }
    }
    out[code_at] = (out.len() - code_at) as u8;
    out.push(0x00);
    out
}

/// Undoes COBS on the bytes before a delimiter; `None` if a block is cut
/// short.
pub fn cobs_decode(encoded: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < encoded.len() {
        let code = usize::from(encoded[at]);
        let end = at + code;
        if code == 0 || end > encoded.len() {
            return None;
        }
        out.extend_from_slice(&encoded[at + 1..end]);
        if code != 0xff && end < encoded.len() {
            out.push(0);
        }
        at = end;
    }
    Some(out)
}

/// HMAC-SHA256 (RFC 2104) from SHA-256 alone, as the specs describe it:
/// SHA-256 of (key ⊕ opad) ‖ SHA-256((key ⊕ ipad) ‖ message).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}
