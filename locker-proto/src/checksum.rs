//! The bus CRC (CRC-16/MODBUS), computed the fastest way the features allow.
//!
//! The `crc` crate computes it byte by byte from one 256-entry table: each
//! byte's lookup waits for the previous one, so a 13-byte frame is 13 loads in
//! a row. With feature `crc-fast`, the same crate's 16 lane tables
//! (`Table<16>`, 8 KiB) turn any run of up to 16 bytes into independent
//! lookups XORed together: lane `k` holds a byte's contribution followed by
//! `k` zero bytes, so byte `j` of an `n`-byte run is looked up in lane
//! `n - 1 - j`, and the CRC so far enters through the run's first two bytes.
//! The `crc` crate's own slice-by-16 uses these lanes only for whole 16-byte
//! blocks, which almost no bus frame fills.

#[cfg(all(feature = "crc-fast", not(feature = "crc-bitwise")))]
static LANES: [[u16; 256]; 16] = *crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_MODBUS).table();

/// CRC-16/MODBUS of `bytes`: initial value `0xFFFF`, reflected, no final XOR.
#[cfg(all(feature = "crc-fast", not(feature = "crc-bitwise")))]
#[inline]
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFF;
    for run in bytes.chunks(16) {
        crc = run_of_up_to_16(crc, run);
    }
    crc
}

/// Advances `crc` over `run` (up to 16 bytes) with one lookup per byte, none
/// waiting for another.
#[cfg(all(feature = "crc-fast", not(feature = "crc-bitwise")))]
#[inline]
fn run_of_up_to_16(crc: u16, run: &[u8]) -> u16 {
    let [lo, hi] = crc.to_le_bytes();
    // Lane `k` of byte `b`; a u8 index into 256 entries is always there.
    let look = |lane: &[u16; 256], b: u8| lane.get(usize::from(b)).copied().unwrap_or(0);
    // Byte j of the run goes through lane n - 1 - j: the lanes, last first.
    let mut lanes = LANES.get(..run.len()).unwrap_or(&[]).iter().rev();
    match (run, lanes.next(), lanes.next()) {
        // The CRC so far enters through the first two bytes.
        ([b0, b1, rest @ ..], Some(l0), Some(l1)) => {
            let mut acc = look(l0, b0 ^ lo) ^ look(l1, b1 ^ hi);
            for (lane, &b) in lanes.zip(rest) {
                acc ^= look(lane, b);
            }
            acc
        }
        // One byte: the CRC's high byte shifts down instead.
        ([b0], Some(l0), None) => look(l0, b0 ^ lo) ^ u16::from(hi),
        _ => crc,
    }
}

/// CRC-16/MODBUS, byte by byte from one 512-byte table.
#[cfg(not(any(feature = "crc-fast", feature = "crc-bitwise")))]
static MODBUS: crc::Crc<u16, crc::Table<1>> =
    crc::Crc::<u16, crc::Table<1>>::new(&crc::CRC_16_MODBUS);

/// CRC-16/MODBUS, bit by bit: no table in flash.
#[cfg(feature = "crc-bitwise")]
static MODBUS: crc::Crc<u16, crc::NoTable> =
    crc::Crc::<u16, crc::NoTable>::new(&crc::CRC_16_MODBUS);

/// CRC-16/MODBUS of `bytes`, byte by byte from the `crc` crate (one 512-byte
/// table, or none with `crc-bitwise`).
#[cfg(not(all(feature = "crc-fast", not(feature = "crc-bitwise"))))]
#[inline]
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    MODBUS.checksum(bytes)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crc::{CRC_16_MODBUS, Crc};

    const REFERENCE: Crc<u16, crc::NoTable> = Crc::<u16, crc::NoTable>::new(&CRC_16_MODBUS);

    #[test]
    fn check_value_is_the_catalogue_ones() {
        assert_eq!(crc16(b"123456789"), 0x4B37);
        assert_eq!(crc16(b""), 0xFFFF);
    }

    #[test]
    fn every_length_a_frame_can_have_matches_the_bitwise_reference() {
        // Lengths across every 16-byte run boundary, up to the longest raw frame.
        let data: std::vec::Vec<u8> = (0..=crate::frame::MAX_RAW)
            .map(|i| (i as u8).wrapping_mul(151).wrapping_add(7))
            .collect();
        for len in 0..=data.len() {
            assert_eq!(
                crc16(&data[..len]),
                REFERENCE.checksum(&data[..len]),
                "length {len}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_match_the_bitwise_reference(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..=crate::frame::MAX_RAW)
        ) {
            proptest::prop_assert_eq!(crc16(&data), REFERENCE.checksum(&data));
        }
    }
}
