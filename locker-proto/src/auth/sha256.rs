//! HMAC-SHA256 of our own, for the tag (feature `auth-compact`): SHA-256 as
//! FIPS 180-4 specifies it, one round loop and a 16-word message schedule
//! kept as a ring, fed one byte at a time; HMAC as RFC 2104 specifies it,
//! for keys of [`KEY_LEN`] bytes.
//!
//! Written for the smallest node: on a Cortex-M0+ it takes less flash than
//! `sha2`'s rolled-up compression with `hmac` and `digest` around it, and far
//! less stack (the tag's deepest call chain: about 1.5 KiB through the
//! crates, a few hundred bytes here), at the price of speed, which a node
//! checking a few short frames a second does not need. The same properties
//! as the crates' for timing: no branch and no table index depends on the
//! key or the data.
//!
//! Checked against the FIPS 180-4 examples and, byte for byte, against the
//! `hmac` and `sha2` crates on every message length across three blocks
//! (the tests below).

use crate::key::KEY_LEN;

/// SHA-256 block length in bytes.
const BLOCK: usize = 64;
/// SHA-256 block length in 32-bit words.
const WORDS: usize = BLOCK / 4;
/// HMAC's inner and outer pad bytes.
const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

/// The first 32 bits of the fractional parts of the cube roots of the first
/// 64 primes (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The initial hash value (FIPS 180-4, 5.3.3).
const H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 computation in progress.
#[derive(Clone)]
struct Sha256 {
    state: [u32; 8],
    /// The block being filled, as the big-endian words the schedule
    /// starts from: each byte is shifted into its word, so four bytes
    /// replace whatever the word held. [`compress`] runs the schedule's
    /// ring in it, and the next block's bytes overwrite it again.
    block: [u32; WORDS],
    /// Bytes of `block` filled, below [`BLOCK`] between calls.
    filled: usize,
    /// Bytes hashed so far.
    total: u64,
}

impl Sha256 {
    #[cfg(test)]
    fn new() -> Self {
        Sha256 {
            state: H0,
            block: [0; WORDS],
            filled: 0,
            total: 0,
        }
    }

    /// Back to the initial state, in place. The block's old bytes stay
    /// until overwritten: none is read before it is.
    fn restart(&mut self) {
        self.state = H0;
        self.filled = 0;
        self.total = 0;
    }

    fn push(&mut self, byte: u8) {
        if let Some(word) = self.block.get_mut(self.filled / 4) {
            *word = (*word << 8) | u32::from(byte);
        }
        self.filled += 1;
        self.total = self.total.wrapping_add(1);
        if self.filled == BLOCK {
            compress(&mut self.state, &mut self.block);
            self.filled = 0;
        }
    }

    fn update(&mut self, data: &[u8]) {
        for byte in data {
            self.push(*byte);
        }
    }

    /// `BLOCK` bytes of `key` (zero-extended) XOR `pad`: HMAC's first block.
    fn pad(&mut self, key: &[u8; KEY_LEN], pad: u8) {
        for i in 0..BLOCK {
            self.push(key.get(i).copied().unwrap_or(0) ^ pad);
        }
    }

    /// Pads the message out: the digest is then `state`'s words, big-endian
    /// ([`digest`](Self::digest)), read where it lies rather than copied
    /// out as bytes. `self` is spent and must be started again before any
    /// further use.
    fn finish(&mut self) {
        let bits = self.total.wrapping_mul(8);
        self.push(0x80);
        while self.filled != BLOCK - 8 {
            self.push(0);
        }
        // In 32-bit halves: a 64-bit shift by a variable is a library call
        // on a Cortex-M0.
        let (high, low) = ((bits >> 32) as u32, bits as u32);
        for i in 0..8 {
            let word = if i < 4 { high } else { low };
            self.push((word >> (24 - 8 * (i % 4))) as u8);
        }
    }

    /// The digest's first `N` bytes (at most 32), after
    /// [`finish`](Self::finish).
    fn digest<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            let word = self.state.get(i / 4).copied().unwrap_or(0);
            *o = (word >> (24 - 8 * (i % 4))) as u8;
        }
        out
    }
}

/// One block (its 16 big-endian words) into the state (FIPS 180-4,
/// 6.2.2), the schedule's last 16 words kept in a ring in the block's own
/// room: word `t` replaces word `t - 16`, and the block is spent.
fn compress(state: &mut [u32; 8], w: &mut [u32; WORDS]) {
    // The working variables a to h of round `t` are `v[(i - t) % 8]` for
    // i = 0 to 7: a round writes the two that change (the new a over the
    // old h, the new e over the old d) where they lie, and moves none.
    // Word by word: a whole-array copy is a call of `memcpy`, whose frame
    // (80 bytes on a Cortex-M0) the stack walk cannot see.
    let [a, b, c, d, e, f, g, h] = *state;
    let mut v = [a, b, c, d, e, f, g, h];
    for (t, k) in K.iter().enumerate() {
        let at = |back: usize| w.get((t + 16 - back) % 16).copied().unwrap_or(0);
        let word = if t < 16 {
            at(16)
        } else {
            let (w2, w15) = (at(2), at(15));
            let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
            let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
            let word = s1.wrapping_add(at(7)).wrapping_add(s0).wrapping_add(at(16));
            if let Some(slot) = w.get_mut(t % 16) {
                *slot = word;
            }
            word
        };
        let slot = |i: usize| i.wrapping_sub(t) % 8;
        let var = |i: usize| v.get(slot(i)).copied().unwrap_or(0);
        let (a, b, c, d) = (var(0), var(1), var(2), var(3));
        let (e, f, g, h) = (var(4), var(5), var(6), var(7));
        let big_s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(big_s1)
            .wrapping_add(ch)
            .wrapping_add(*k)
            .wrapping_add(word);
        let big_s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = big_s0.wrapping_add(maj);
        if let Some(e) = v.get_mut(slot(3)) {
            *e = d.wrapping_add(t1);
        }
        if let Some(a) = v.get_mut(slot(7)) {
            *a = t1.wrapping_add(t2);
        }
    }
    // 64 rounds are eight turns of the ring: `v` is a to h in order again.
    for (s, x) in state.iter_mut().zip(&v) {
        *s = s.wrapping_add(*x);
    }
}

/// HMAC-SHA256 in progress under a key of [`KEY_LEN`] bytes.
pub(super) struct HmacSha256<'k> {
    key: &'k [u8; KEY_LEN],
    inner: Sha256,
}

impl<'k> HmacSha256<'k> {
    /// A MAC under `key`, not yet started: call [`start`](Self::start)
    /// before anything else. Apart, so that the state is started where it
    /// lies: a started state returned by value was built in a frame of its
    /// own and copied (a 136-byte frame on a node's deepest chain).
    #[inline(always)]
    pub(super) fn new(key: &'k [u8; KEY_LEN]) -> Self {
        HmacSha256 {
            key,
            inner: Sha256 {
                state: [0; 8],
                block: [0; WORDS],
                filled: 0,
                total: 0,
            },
        }
    }

    /// Starts the MAC: the inner hash takes the padded key.
    pub(super) fn start(&mut self) {
        self.inner.restart();
        self.inner.pad(self.key, IPAD);
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The MAC's first `N` bytes (at most 32); the state is spent (the
    /// outer hash took its room).
    pub(super) fn finish<const N: usize>(&mut self) -> [u8; N] {
        self.inner.finish();
        let inner = self.inner.state;
        // The outer hash reuses the inner one's room, started afresh where
        // it lies (a new `Sha256` moved in would be 104 bytes of stack).
        self.inner.restart();
        self.inner.pad(self.key, OPAD);
        for word in inner {
            self.inner.update(&word.to_be_bytes());
        }
        self.inner.finish();
        self.inner.digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    fn ours(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new(key);
        mac.start();
        for part in parts {
            mac.update(part);
        }
        mac.finish()
    }

    fn crates(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn hex(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn sha256_of_the_fips_examples() {
        let digest = |data: &[u8]| {
            let mut h = Sha256::new();
            h.update(data);
            h.finish();
            h.digest::<32>()
        };
        assert_eq!(
            digest(b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        );
        assert_eq!(
            digest(b""),
            hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn hmac_with_a_32_byte_key_matches_the_crates() {
        let key = [0x0b; KEY_LEN];
        let msg = b"what do ya want for nothing?";
        assert_eq!(ours(&key, &[msg]), crates(&key, &[msg]));
    }

    #[test]
    fn hmac_matches_the_crates_on_every_length_across_three_blocks() {
        let mut key = [0u8; KEY_LEN];
        for (i, k) in key.iter_mut().enumerate() {
            *k = (i as u8).wrapping_mul(37).wrapping_add(5);
        }
        let mut data = [0u8; 200];
        for (i, d) in data.iter_mut().enumerate() {
            *d = (i * 131 % 251) as u8;
        }
        for len in 0..data.len() {
            let msg = &data[..len];
            let (a, b) = msg.split_at(len / 3);
            assert_eq!(
                ours(&key, &[a, b, &[0x02]]),
                crates(&key, &[a, b, &[0x02]]),
                "length {len}"
            );
        }
    }
}
