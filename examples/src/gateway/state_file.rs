//! The bank's state file: read once at start, replaced atomically after
//! every change.
//!
//! Replacing is write-to-temporary, `fsync`, `rename` over the old file,
//! `fsync` of the directory: after a power cut the file holds either the old
//! snapshot or the new one, never a mixture. A state file that exists but
//! cannot be restored stops the gateway ([`GatewayError::CorruptState`]) and
//! is never overwritten, so the evidence survives for a person to look at.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::GatewayError;

/// Where the bank's snapshot lives.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
    temp: PathBuf,
}

impl StateFile {
    /// The state file at `path`; its temporary sibling is `path` + `.tmp`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut temp = path.clone().into_os_string();
        temp.push(".tmp");
        StateFile {
            path,
            temp: PathBuf::from(temp),
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last snapshot written, or `None` if there is no state file yet
    /// (a first start).
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`] if the file exists but cannot be read.
    pub fn load(&self) -> Result<Option<Vec<u8>>, GatewayError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(GatewayError::file("cannot read state file", &self.path, e)),
        }
    }

    /// Replaces the state file with `snapshot`, atomically and durably.
    ///
    /// # Errors
    ///
    /// [`GatewayError::File`]; the previous state file is then intact.
    pub fn replace(&self, snapshot: &[u8]) -> Result<(), GatewayError> {
        let temp = &self.temp;
        let fail = |action, e| GatewayError::file(action, temp, e);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(temp)
            .map_err(|e| fail("cannot create", e))?;
        file.write_all(snapshot)
            .map_err(|e| fail("cannot write", e))?;
        file.sync_all().map_err(|e| fail("cannot sync", e))?;
        drop(file);
        fs::rename(temp, &self.path)
            .map_err(|e| GatewayError::file("cannot rename temporary over", &self.path, e))?;
        // The rename itself is durable only once the directory is synced.
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| GatewayError::file("cannot sync directory", dir, e))
    }
}
