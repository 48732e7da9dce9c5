//! Per-node keys derived from one bank key with HKDF-SHA256.

use core::fmt;

use hkdf::Hkdf;
use sha2::Sha256;

use crate::key::{KEY_LEN, NodeKey};
use crate::vocab::NodeAddr;

/// HKDF salt: fixes the scheme and its version, so a bank key used
/// elsewhere (it should not be) still yields unrelated node keys.
const SALT: &[u8] = b"locker bus node key v1";

/// Who a node is, for key derivation: its bus address and, where the board
/// has one, its serial number. With the serial in the derivation, moving a
/// board to another bank or address needs a new provisioning; without it a
/// replacement board at the same address gets the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeIdentity {
    /// The node's bus address.
    pub addr: NodeAddr,
    /// The board's serial number, if it has one.
    pub serial: Option<u64>,
}

impl NodeIdentity {
    /// A node known by its address only.
    pub const fn at(addr: NodeAddr) -> Self {
        NodeIdentity { addr, serial: None }
    }

    /// HKDF `info`: a tag byte for "address only" or "address and serial",
    /// then the fields, so no two identities give the same bytes.
    fn info(&self) -> ([u8; 10], usize) {
        let mut info = [0u8; 10];
        let [kind, addr, rest @ ..] = &mut info;
        *addr = self.addr.0;
        match self.serial {
            None => {
                *kind = 0;
                (info, 2)
            }
            Some(serial) => {
                *kind = 1;
                *rest = serial.to_le_bytes();
                (info, 10)
            }
        }
    }
}

/// The bank's master secret: 32 random bytes kept by the gateway (and the
/// backend that provisions it), never by a node. Every node key is derived
/// from it, so a node's flash, if read out, gives away that node only.
///
/// ```
/// use locker_proto::auth::{BankKey, NodeIdentity};
/// use locker_proto::NodeAddr;
///
/// let bank = BankKey::from_bytes([0x3d; 32]);
/// let k3 = bank.node_key(NodeIdentity::at(NodeAddr(3)));
/// let k4 = bank.node_key(NodeIdentity::at(NodeAddr(4)));
/// assert_ne!(k3, k4);
/// assert_eq!(format!("{bank:?}"), "BankKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct BankKey([u8; KEY_LEN]);

impl BankKey {
    /// The bank key from its bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        BankKey(bytes)
    }

    /// The key of the node `id`:
    /// `HKDF-SHA256(salt = "locker bus node key v1", ikm = bank key,
    /// info = kind || address [|| serial LE])`, 32 bytes.
    pub fn node_key(&self, id: NodeIdentity) -> NodeKey {
        let (info, len) = id.info();
        let mut okm = [0u8; KEY_LEN];
        let hk = Hkdf::<Sha256>::new(Some(SALT), &self.0);
        // 32 bytes are far below HKDF-SHA256's limit of 255 × 32: never fails.
        let _ = hk.expand(info.get(..len).unwrap_or(&info), &mut okm);
        NodeKey::from_bytes(okm)
    }
}

/// The key's bytes are overwritten with zeros when it is dropped (with
/// `zeroize`, which the compiler may not optimise away), so a bank key does
/// not outlive its owner in freed memory. Copies the compiler made on the
/// stack while it was derived or moved are beyond its reach.
impl Drop for BankKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl zeroize::ZeroizeOnDrop for BankKey {}

impl fmt::Debug for BankKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BankKey(<redacted>)")
    }
}
