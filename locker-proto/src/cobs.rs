//! Consistent Overhead Byte Stuffing: removes every `0x00` from a frame so
//! `0x00` can delimit frames on the wire.
//!
//! Frames are at most [`MAX_RAW`](crate::frame::MAX_RAW) bytes, shorter than
//! COBS's 254-byte block, so every block here ends at a zero byte or at the
//! end of the frame and the overhead is exactly one byte. That lets the
//! encoder work in place (one pass, no second buffer) and the decoder work
//! byte by byte as the UART delivers them. Neither can panic.

/// The longest frame (before COBS) these functions handle: every block fits
/// one code byte without a 0xFF split.
pub(crate) const MAX_UNSPLIT: usize = 253;

/// COBS-encodes `buf[1..=n]` in place, using `buf[0]` for the first code
/// byte; afterwards `buf[..=n]` is the encoding (no `0x00` in it).
///
/// Returns `None` (and leaves the data unencoded) if `n > MAX_UNSPLIT` or
/// `buf` is shorter than `n + 1`.
pub(crate) fn encode_in_place(buf: &mut [u8], n: usize) -> Option<()> {
    if n > MAX_UNSPLIT {
        return None;
    }
    let (first, data) = buf.get_mut(..=n)?.split_first_mut()?;
    // Each zero becomes the code byte of the block after it; the slot waiting
    // for the current block's code is the last zero seen (or the first byte).
    let mut code_slot = first;
    let mut code = 1u8;
    for byte in data {
        if *byte == 0 {
            *code_slot = code;
            code_slot = byte;
            code = 1;
        } else {
            // n <= 253, so a block never reaches 255 bytes: no overflow.
            code = code.wrapping_add(1);
        }
    }
    *code_slot = code;
    Some(())
}

/// The decoding state between two bytes of one COBS block stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unstuffer {
    /// Data bytes left in the current block; 0 means the next byte is a code.
    left: u8,
    /// The current block ended short of 0xFF, so a zero follows it, unless
    /// the frame ends first.
    zero_pending: bool,
}

impl Unstuffer {
    /// The state at the start of a frame.
    pub(crate) const fn new() -> Self {
        Unstuffer {
            left: 0,
            zero_pending: false,
        }
    }

    /// Decodes `encoded` (a stretch of one frame, no delimiter in it) onto
    /// `out[*len..]`, advancing `*len`, a block at a time: each block's data
    /// is one copy. Returns `false` if `out` ran out of room; the bytes that
    /// did not fit are dropped.
    #[inline]
    pub(crate) fn decode_into(
        &mut self,
        mut encoded: &[u8],
        out: &mut [u8],
        len: &mut usize,
    ) -> bool {
        while let Some((&first, after)) = encoded.split_first() {
            if self.left == 0 {
                // A code byte: it completes the previous block with an
                // implied zero (unless that block was a full 0xFF one) and
                // says how many data bytes follow. Never the delimiter, so >= 1.
                if self.zero_pending {
                    match out.get_mut(*len) {
                        Some(slot) => *slot = 0,
                        None => return false,
                    }
                    *len += 1;
                }
                self.zero_pending = first != 0xFF;
                self.left = first.wrapping_sub(1);
                encoded = after;
            } else {
                let (data, after) = encoded.split_at(encoded.len().min(usize::from(self.left)));
                match out.get_mut(*len..*len + data.len()) {
                    Some(slots) => slots.copy_from_slice(data),
                    None => return false,
                }
                *len += data.len();
                // data.len() <= self.left, both below 256.
                self.left = self.left.wrapping_sub(data.len() as u8);
                encoded = after;
            }
        }
        true
    }

    /// Whether the stream so far ends on a block boundary (a frame may end
    /// here); `false` means a code byte promised bytes that never came.
    pub(crate) fn at_boundary(&self) -> bool {
        self.left == 0
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    fn encode(data: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; data.len() + 1];
        buf[1..].copy_from_slice(data);
        encode_in_place(&mut buf, data.len()).unwrap();
        buf
    }

    /// Decodes `enc` handed over in chunks of every size from one byte to
    /// all of it; every chunking must give the same bytes.
    fn decode(enc: &[u8]) -> Option<Vec<u8>> {
        let mut results = (1..=enc.len().max(1)).map(|chunk| {
            let mut u = Unstuffer::new();
            let mut out = [0u8; 300];
            let mut len = 0;
            for piece in enc.chunks(chunk) {
                assert!(u.decode_into(piece, &mut out, &mut len));
            }
            u.at_boundary().then(|| out[..len].to_vec())
        });
        let first = results.next().unwrap();
        assert!(results.all(|r| r == first), "chunking changed the result");
        first
    }

    fn roundtrip(data: &[u8]) {
        let enc = encode(data);
        assert_eq!(enc.len(), data.len() + 1);
        assert!(!enc.contains(&0));
        assert_eq!(decode(&enc).as_deref(), Some(data));
    }

    #[test]
    fn known_vectors_and_long_runs_roundtrip() {
        roundtrip(&[]);
        roundtrip(&[0]);
        roundtrip(&[0, 0]);
        roundtrip(&[0x11, 0x22, 0x00, 0x33]);
        roundtrip(&[0xAA; 253]);
        let mut zero_last = [0xAAu8; 253];
        zero_last[252] = 0;
        roundtrip(&zero_last);
        assert_eq!(
            encode(&[0x11, 0x22, 0x00, 0x33]),
            [0x03, 0x11, 0x22, 0x02, 0x33]
        );
        assert_eq!(encode(&[0x00]), [0x01, 0x01]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_roundtrip(data in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(0u8), 1u8..], 0..=MAX_UNSPLIT)) {
            roundtrip(&data);
        }
    }

    #[test]
    fn too_long_or_short_buffers_are_refused_not_overrun() {
        assert_eq!(encode_in_place(&mut [0u8; 3], 3), None);
        assert_eq!(encode_in_place(&mut [0u8; 300], 254), None);
    }

    #[test]
    fn a_block_cut_short_is_detected() {
        assert_eq!(decode(&[0x05, 1, 2]), None);
        assert_eq!(decode(&[0x02]), None);
        // Output that runs out of room says so.
        let mut u = Unstuffer::new();
        let mut small = [0u8; 2];
        let mut len = 0;
        assert!(!u.decode_into(&[0x04, 1, 2, 3], &mut small, &mut len));
        assert_eq!(len, 0);
        // 0xFF blocks (from other encoders) decode without an implied zero.
        let mut long = vec![0xFF];
        long.extend_from_slice(&[7u8; 254]);
        long.push(0x01);
        assert_eq!(decode(&long), Some(vec![7u8; 254]));
    }
}
