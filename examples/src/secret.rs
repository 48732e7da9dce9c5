//! Secrets the programs keep in files: the bank secret a gateway shares
//! with its backend, and the bus key its nodes' keys come from.
//!
//! Both are 32 bytes written as 64 hex digits on one line. No program of
//! this workspace carries a secret in its code: a published constant would
//! let anyone who reads the source sign remote opens or read pickup codes
//! out of a copied state file.
//!
//! Secrets come back [`Zeroizing`]: the file's text and the bytes read from
//! it are overwritten with zeros when dropped.

use std::io::{self, Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

/// Reads a 32-byte secret written as 64 hex digits (surrounding white space
/// is ignored), from a file only its owner may read (mode 0600 or stricter
/// on Unix; a file others can read is refused, as ssh refuses such keys).
///
/// # Errors
///
/// A message naming the file and what is wrong with it.
pub fn read_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the secret in {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} can be read by others (mode {:o}); a secret must be its owner's alone: \
                 chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the secret in {}: {e}", path.display()))?,
    );
    parse_hex(text.trim())
        .ok_or_else(|| format!("{} must hold the secret as 64 hex digits", path.display()))
}

/// The secret in `path`, or a new one drawn from the operating system's
/// randomness and written there (readable by its owner alone) when the
/// file does not exist yet. Returns the secret and whether it was created.
///
/// # Errors
///
/// As [`read_secret`], and a message when no randomness can be read or the
/// file cannot be written.
pub fn read_or_create_secret(path: &Path) -> Result<(Zeroizing<[u8; 32]>, bool), String> {
    if path.exists() {
        return read_secret(path).map(|s| (s, false));
    }
    let secret =
        os_random().map_err(|e| format!("cannot read randomness from {RANDOMNESS}: {e}"))?;
    let secret = Zeroizing::new(secret);
    write_private(path, &Zeroizing::new(to_hex(&*secret)))
        .map_err(|e| format!("cannot write a new secret to {}: {e}", path.display()))?;
    Ok((secret, true))
}

/// Where the operating system hands out randomness.
pub const RANDOMNESS: &str = "/dev/urandom";

/// 32 bytes of the operating system's randomness: for secrets and for the
/// seed of pickup codes.
///
/// # Errors
///
/// When [`RANDOMNESS`] cannot be read.
pub fn os_random() -> io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    std::fs::File::open(RANDOMNESS).and_then(|mut f| f.read_exact(&mut bytes))?;
    Ok(bytes)
}

/// `bytes` as lowercase hex digits.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(hex: &str) -> Option<Zeroizing<[u8; 32]>> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(bytes)
}

/// Creates `path` (never replacing one) with mode 0600 on Unix.
fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_new_secret_is_written_once_and_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("locker-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bank.secret");
        let _ = std::fs::remove_file(&path);
        let (first, created) = read_or_create_secret(&path).unwrap();
        assert!(created);
        let (again, created) = read_or_create_secret(&path).unwrap();
        assert!(!created);
        assert_eq!(first, again);
        assert_ne!(*first, [0x5a; 32]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the secret is its owner's alone");
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(read_secret(&path).unwrap_err().contains("64 hex digits"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&path, to_hex(&[7; 32])).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let refused = read_secret(&path).unwrap_err();
            assert!(refused.contains("chmod 600"), "{refused}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
