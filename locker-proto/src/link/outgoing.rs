//! A frame ready to leave, with what it takes to sign it.

use crate::error::FrameError;
use crate::frame::{Body, Frame, encode};

#[cfg(feature = "auth")]
use crate::auth::{Direction, trailer};
#[cfg(feature = "auth")]
use crate::frame::{AuthTrailer, FRESHNESS_LEN, TAG_LEN};
#[cfg(feature = "auth")]
use crate::key::NodeKey;

/// What an outgoing frame carries in its authentication trailer.
#[cfg(feature = "auth")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seal {
    /// A tag under `key` for the full `counter` and `direction`.
    Tag {
        key: NodeKey,
        counter: u64,
        direction: Direction,
    },
    /// A query's challenge in place of a tag (see [`crate::auth`],
    /// *Answers*): the node answers under it, nobody checks it on the way in.
    Challenge([u8; TAG_LEN]),
}

/// A frame the link wants sent, from `poll_outgoing`: encode it with
/// [`encode`](Outgoing::encode), which signs it when it must be signed.
///
/// Without feature `auth` nothing is ever signed and `encode` is
/// [`frame::encode`](crate::frame::encode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing<B> {
    /// The frame. Its [`Flags::AUTHENTICATED`](crate::Flags::AUTHENTICATED)
    /// says whether `encode` signs it.
    pub frame: Frame<B>,
    #[cfg(feature = "auth")]
    pub(crate) seal: Option<Seal>,
}

impl<B: Body> Outgoing<B> {
    pub(crate) fn plain(frame: Frame<B>) -> Self {
        Outgoing {
            frame,
            #[cfg(feature = "auth")]
            seal: None,
        }
    }

    /// Encodes the frame into `out` (at least [`MAX_FRAME`](crate::MAX_FRAME)
    /// bytes never fail) and returns the bytes to send, delimiter included:
    /// with the authentication trailer if the frame is to be signed.
    ///
    /// # Errors
    ///
    /// As [`frame::encode`](crate::frame::encode).
    pub fn encode<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], FrameError> {
        // The seal borrowed, not copied: a copy of the key would lie in the
        // caller's frame, under the tag's HMAC.
        #[cfg(feature = "auth")]
        match &self.seal {
            Some(Seal::Tag {
                key,
                counter,
                direction,
            }) => {
                return crate::frame::encode_authenticated(&self.frame, out, |covered| {
                    trailer(key, covered, *counter, *direction)
                });
            }
            Some(Seal::Challenge(challenge)) => {
                return crate::frame::encode_authenticated(&self.frame, out, |_| AuthTrailer {
                    freshness: [0; FRESHNESS_LEN],
                    tag: *challenge,
                });
            }
            None => {}
        }
        encode(&self.frame, out)
    }

    /// Whether [`encode`](Self::encode) appends an authentication trailer: a
    /// tag, or a query's challenge.
    pub fn is_authenticated(&self) -> bool {
        #[cfg(feature = "auth")]
        return self.seal.is_some();
        #[cfg(not(feature = "auth"))]
        false
    }

    /// The full counter the frame is signed with, if it is.
    pub fn counter(&self) -> Option<u64> {
        #[cfg(feature = "auth")]
        return match self.seal {
            Some(Seal::Tag { counter, .. }) => Some(counter),
            _ => None,
        };
        #[cfg(not(feature = "auth"))]
        None
    }
}
