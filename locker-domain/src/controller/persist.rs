//! The bytes a node keeps across a reboot: configuration and calibration.
//!
//! ```text
//! | 'L' 'N' | format 1 | channels | NodeConfig (postcard) | baseline i32 (postcard) × channels | CRC-16 LE |
//! ```
//!
//! The CRC is the bus CRC ([`locker_proto::frame::CRC`], CRC-16/MODBUS) over
//! everything before it. The magic catches a blank (0xFF) or foreign flash
//! page, the format byte a downgrade, the channel count a board swap, and the
//! CRC a torn or decayed write.

use locker_proto::NodeConfig;
use locker_proto::frame::CRC;
use locker_proto::wire::{Reader, Writer};

use super::config::validate;
use super::error::ControllerError;

const MAGIC: [u8; 2] = *b"LN";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 4;
const CRC_LEN: usize = 2;
/// Postcard varints: three `u16` of at most 3 bytes, one `i32` of at most 5.
const CONFIG_MAX: usize = 3 * 3 + 5;
const BASELINE_MAX: usize = 5;

/// The most bytes a saved state of `channels` channels takes.
pub(crate) const fn saved_len_max(channels: usize) -> usize {
    HEADER_LEN + CONFIG_MAX + channels * BASELINE_MAX + CRC_LEN
}

/// Writes `config` and the `baselines` into `buf`.
pub(crate) fn save<'b, const N: usize>(
    config: &NodeConfig,
    baselines: &[i32; N],
    buf: &'b mut [u8],
) -> Result<&'b [u8], ControllerError> {
    let too_small = ControllerError::BufferTooSmall {
        needed: saved_len_max(N),
    };
    let channels = u8::try_from(N).map_err(|_| too_small)?;
    let mut len = 0;
    let header = [MAGIC[0], MAGIC[1], FORMAT, channels];
    buf.get_mut(..HEADER_LEN)
        .ok_or(too_small)?
        .copy_from_slice(&header);
    len += HEADER_LEN;
    let mut w = Writer::new(buf.get_mut(len..).ok_or(too_small)?);
    config.write(&mut w);
    for &baseline in baselines {
        w.i32(baseline);
    }
    len += w.finish().ok_or(too_small)?;
    let crc = CRC.checksum(buf.get(..len).ok_or(too_small)?);
    buf.get_mut(len..len + CRC_LEN)
        .ok_or(too_small)?
        .copy_from_slice(&crc.to_le_bytes());
    buf.get(..len + CRC_LEN).ok_or(too_small)
}

/// Reads what [`save`] wrote, checking everything before returning anything.
pub(crate) fn restore<const N: usize>(
    bytes: &[u8],
) -> Result<(NodeConfig, [i32; N]), ControllerError> {
    let Some((covered, crc_bytes)) = bytes.split_at_checked(bytes.len().saturating_sub(CRC_LEN))
    else {
        return Err(ControllerError::SavedStateTruncated);
    };
    let (header, body) = covered
        .split_at_checked(HEADER_LEN)
        .ok_or(ControllerError::SavedStateTruncated)?;
    let [m0, m1, format, channels] = *header else {
        return Err(ControllerError::SavedStateTruncated);
    };
    if [m0, m1] != MAGIC {
        return Err(ControllerError::NotSavedState);
    }
    if format != FORMAT {
        return Err(ControllerError::UnsupportedFormat(format));
    }
    let [lo, hi] = *crc_bytes else {
        return Err(ControllerError::SavedStateTruncated);
    };
    if CRC.checksum(covered) != u16::from_le_bytes([lo, hi]) {
        return Err(ControllerError::SavedStateCorrupt);
    }
    if usize::from(channels) != N {
        return Err(ControllerError::ChannelCountMismatch {
            stored: channels,
            expected: u8::try_from(N).unwrap_or(u8::MAX),
        });
    }
    // The CRC matched, so a body that does not parse was written by a buggy
    // or hostile writer; it is still refused as corrupt, never half-applied.
    let mut r = Reader::new(body);
    let config = NodeConfig::read(&mut r);
    if !r.is_good() {
        return Err(ControllerError::SavedStateCorrupt);
    }
    validate(&config).map_err(ControllerError::InvalidConfig)?;
    let mut baselines = [0i32; N];
    for baseline in &mut baselines {
        *baseline = r.i32();
    }
    let baselines = r
        .finish(baselines)
        .ok_or(ControllerError::SavedStateCorrupt)?;
    Ok((config, baselines))
}
