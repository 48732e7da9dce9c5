//! Tags on the backend's messages: made by the backend, checked by the
//! gateway before it does anything a message asks.

use hmac::Mac;
use locker_proto::uplink::{
    DOWNWARD_TAG_LABEL, DownEnvelope, Downward, Envelope, HexArray, MessageId, Tag,
};

use crate::bank::BankKeys;
use crate::bank::keys::{TAG_LEN, hmac as keyed_hmac};

/// Feeds postcard's output straight into the MAC: no buffer, no size limit.
struct MacFlavor(hmac::Hmac<sha2::Sha256>);

impl postcard::ser_flavors::Flavor for MacFlavor {
    type Output = hmac::Hmac<sha2::Sha256>;

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.update(&[data]);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.update(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Self::Output> {
        Ok(self.0)
    }
}

/// The MAC over `message` as [`DownEnvelope`] defines it, not yet finalised.
fn downward_mac(keys: &BankKeys, message: &Envelope<&Downward>) -> hmac::Hmac<sha2::Sha256> {
    let mut m = keyed_hmac(keys.downward_key());
    m.update(DOWNWARD_TAG_LABEL);
    m.update(&keys.bank().0.to_le_bytes());
    // Serialising a message cannot fail (no map keys, no unsized lengths)
    // and the flavour never refuses a byte; should it fail all the same,
    // the MAC covers less than the message and no tag made elsewhere
    // matches it: the message is refused, never accepted.
    let flavor = MacFlavor(m.clone());
    postcard::serialize_with_flavor(message, flavor).unwrap_or(m)
}

/// The tag of the message `id`, `body` (at the current protocol version)
/// under the downward key of `keys`; see [`DownEnvelope`] for its exact
/// input.
pub fn downward_tag(keys: &BankKeys, message: &Envelope<&Downward>) -> Tag {
    let full = downward_mac(keys, message).finalize().into_bytes();
    let mut tag = [0u8; TAG_LEN];
    for (t, f) in tag.iter_mut().zip(full.iter()) {
        *t = *f;
    }
    HexArray(tag)
}

/// The backend's message `id`, `body`, tagged with the downward key of
/// `keys`: what the backend sends to the bank.
///
/// ```
/// use locker_domain::bank::{BankId, BankKeys};
/// use locker_domain::uplink::{sign_downward, verify_downward};
/// use locker_proto::uplink::{Downward, MessageId};
///
/// let keys = BankKeys::derive(BankId(7), &[0x3d; 32]); // the bank secret, shared
/// let mut message = sign_downward(&keys, MessageId(42), Downward::GetDiagnostics);
/// assert!(verify_downward(&keys, &message));
/// // Any change, to the body or the id, and the tag no longer fits.
/// message.id = MessageId(43);
/// assert!(!verify_downward(&keys, &message));
/// // Nor does it fit another bank's keys.
/// let other = BankKeys::derive(BankId(8), &[0x3d; 32]);
/// assert!(!verify_downward(&other, &sign_downward(&keys, MessageId(42), Downward::GetDiagnostics)));
/// ```
pub fn sign_downward(keys: &BankKeys, id: MessageId, body: Downward) -> DownEnvelope {
    let message = Envelope::new(id, body);
    let tag = downward_tag(keys, &Envelope::new(id, &message.body));
    DownEnvelope::with_tag(message, tag)
}

/// Whether `message`'s tag is right for `keys`, compared in constant time.
pub fn verify_downward(keys: &BankKeys, message: &DownEnvelope) -> bool {
    downward_mac(keys, &message.signed_part())
        .verify_truncated_left(&message.tag.0)
        .is_ok()
}
