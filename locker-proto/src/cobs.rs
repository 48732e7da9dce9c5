//! Consistent Overhead Byte Stuffing: removes every `0x00` from a frame so
//! `0x00` can delimit frames on the wire. Overhead is one byte per 254 bytes
//! of payload (at least one). Both functions are bounds-checked and never panic.

/// The largest COBS encoding of `n` bytes (without the delimiter).
pub(crate) const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Encodes `src` into `dst`; returns the encoded length, or `None` if `dst`
/// is too small. The output contains no `0x00`.
pub(crate) fn encode(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    let mut code_at = 0usize;
    let mut write = 1usize;
    let mut code = 1u8;
    // Reserve the first code byte.
    *dst.get_mut(code_at)? = 0;
    for &byte in src {
        if byte == 0 {
            *dst.get_mut(code_at)? = code;
            code_at = write;
            *dst.get_mut(code_at)? = 0;
            write += 1;
            code = 1;
        } else {
            *dst.get_mut(write)? = byte;
            write += 1;
            code += 1;
            if code == 0xFF {
                *dst.get_mut(code_at)? = code;
                code_at = write;
                *dst.get_mut(code_at)? = 0;
                write += 1;
                code = 1;
            }
        }
    }
    *dst.get_mut(code_at)? = code;
    Some(write)
}

/// Decodes a COBS block (without its delimiter) in place; returns the decoded
/// length, or `None` if the block is not valid COBS (a zero code byte, or a
/// code that points past the end). The caller has split the stream at zero
/// bytes, so the block holds none; data bytes are not checked again.
pub(crate) fn decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let n = buf.len();
    let mut read = 0usize;
    let mut write = 0usize;
    while read < n {
        let code = *buf.get(read)?;
        if code == 0 {
            return None;
        }
        read += 1;
        let run = usize::from(code - 1);
        let end = read.checked_add(run).filter(|&e| e <= n)?;
        // write <= read always holds, so the copy stays inside the buffer.
        buf.copy_within(read..end, write);
        write += run;
        read = end;
        if code != 0xFF && read < n {
            *buf.get_mut(write)? = 0;
            write += 1;
        }
    }
    Some(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let mut enc = [0u8; 1024];
        let n = encode(data, &mut enc).unwrap();
        assert!(n <= max_encoded_len(data.len()));
        assert!(!enc[..n].contains(&0));
        let mut dec = enc;
        let m = decode_in_place(&mut dec[..n]).unwrap();
        assert_eq!(&dec[..m], data);
    }

    #[test]
    fn known_vectors_and_long_runs_roundtrip() {
        roundtrip(&[]);
        roundtrip(&[0]);
        roundtrip(&[0, 0]);
        roundtrip(&[0x11, 0x22, 0x00, 0x33]);
        roundtrip(&[0xAA; 253]);
        roundtrip(&[0xAA; 254]);
        roundtrip(&[0xAA; 255]);
        roundtrip(&[0xAA; 600]);
        let mut full_then_zero = [0xAAu8; 257];
        full_then_zero[254] = 0;
        roundtrip(&full_then_zero);
        roundtrip(&full_then_zero[..255]);
        let mut enc = [0u8; 8];
        assert_eq!(encode(&[0x11, 0x22, 0x00, 0x33], &mut enc), Some(5));
        assert_eq!(&enc[..5], &[0x03, 0x11, 0x22, 0x02, 0x33]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_roundtrip(data in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(0u8), 1u8..], 0..700)) {
            roundtrip(&data);
        }
    }

    #[test]
    fn a_short_buffer_is_refused_not_overrun() {
        let mut enc = [0u8; 3];
        assert_eq!(encode(&[1, 2, 3], &mut enc), None);
        assert_eq!(encode(&[1], &mut []), None);
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(decode_in_place(&mut [0x05, 1, 2]), None);
        assert_eq!(decode_in_place(&mut [0x00]), None);
    }
}
