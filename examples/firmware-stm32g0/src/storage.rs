//! Configuration and calibration in the last 2 KiB flash page, so they
//! survive a soft reboot (and a power cut).
//!
//! Layout: one length byte, then [`Controller::save`]'s bytes (which carry
//! their own magic, format version and CRC), padded to the flash's 8-byte
//! write unit. A blank page (all `0xFF`) is refused by `restore_controller`
//! as "not a saved state" and the node runs on defaults.
//!
//! Board-independent: `crate::board::Flash` is any flash with embassy's
//! blocking `blocking_read` / `blocking_erase` / `blocking_write` (offsets
//! from the flash base); the QEMU board shares this file.

use crate::board::Flash;
use crate::node::CompartmentNode;

/// The last page of the 64 KiB flash, as an offset from the flash base.
const PAGE: u32 = 62 * 1024;
const PAGE_SIZE: u32 = 2 * 1024;
const WRITE_UNIT: usize = 8;
/// Room for the length byte and the saved state, rounded up to the write unit.
const SLOT: usize = (1 + CompartmentNode::SAVED_LEN_MAX).div_ceil(WRITE_UNIT) * WRITE_UNIT;

/// Loads the saved state into `node`; leaves it on defaults if the page is
/// blank or corrupt.
pub fn load(flash: &mut Flash, node: &mut CompartmentNode) {
    let mut slot = [0xFFu8; SLOT];
    if flash.blocking_read(PAGE, &mut slot).is_err() {
        return;
    }
    let Some((&len, rest)) = slot.split_first() else {
        return;
    };
    if let Some(saved) = rest.get(..usize::from(len)) {
        let _ = node.restore_controller(saved);
    }
}

/// The authentication record (key and counter reservation) lives in its own
/// page, below the controller's: it is written once per boot and once per
/// half reservation block (512 signed commands), never by what an attacker
/// sends.
#[cfg(feature = "auth")]
const AUTH_PAGE: u32 = 60 * 1024;
#[cfg(feature = "auth")]
const AUTH_SLOT: usize = locker_proto::auth::NodeAuthRecord::LEN.div_ceil(WRITE_UNIT) * WRITE_UNIT;

/// The stored authentication record, if the page holds a valid one.
#[cfg(feature = "auth")]
pub fn load_auth(flash: &mut Flash) -> Option<locker_proto::auth::NodeAuthRecord> {
    let mut slot = [0xFFu8; AUTH_SLOT];
    flash.blocking_read(AUTH_PAGE, &mut slot).ok()?;
    locker_proto::auth::NodeAuthRecord::from_bytes(&slot).ok()
}

/// Writes the authentication record. Returns whether it is stored.
///
/// Not inlined, like [`save`]: its slot and the record's bytes stay out of
/// the main loop's `serve`, whose frame lies under the HMAC of every signed
/// answer.
#[cfg(feature = "auth")]
#[inline(never)]
pub fn save_auth(flash: &mut Flash, record: &locker_proto::auth::NodeAuthRecord) -> bool {
    let mut slot = [0xFFu8; AUTH_SLOT];
    if let Some(head) = slot.get_mut(..locker_proto::auth::NodeAuthRecord::LEN) {
        head.copy_from_slice(&record.to_bytes());
    }
    flash
        .blocking_erase(AUTH_PAGE, AUTH_PAGE + PAGE_SIZE)
        .is_ok()
        && flash.blocking_write(AUTH_PAGE, &slot).is_ok()
}

/// Writes `node`'s configuration and calibration to the page. Not inlined:
/// its slot stays out of `serve`'s frame (as `save_auth`'s).
#[inline(never)]
pub fn save(flash: &mut Flash, node: &CompartmentNode) {
    let mut slot = [0xFFu8; SLOT];
    let Some((len_byte, rest)) = slot.split_first_mut() else {
        return;
    };
    let Ok(saved) = node.save_controller(rest) else {
        return;
    };
    let Ok(len) = u8::try_from(saved.len()) else {
        return;
    };
    *len_byte = len;
    if flash.blocking_erase(PAGE, PAGE + PAGE_SIZE).is_ok() {
        let _ = flash.blocking_write(PAGE, &slot);
    }
}
