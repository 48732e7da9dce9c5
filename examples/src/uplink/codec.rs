//! Envelopes to bytes and back, in the encoding both ends agreed on.

use locker_proto::uplink::{
    CodecError, DownEnvelope, EnvelopeHeader, MAX_POSTCARD_LEN, UpEnvelope,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A message either end puts on the transport: an [`UpEnvelope`] or a
/// [`DownEnvelope`].
pub trait WireMessage: Serialize + DeserializeOwned {
    /// The postcard encoding, written into `buf`.
    ///
    /// # Errors
    /// [`CodecError::BufferTooSmall`].
    fn to_postcard<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], CodecError>;
    /// The message in postcard `bytes`.
    ///
    /// # Errors
    /// [`CodecError`] for anything that is not such a message.
    fn from_postcard(bytes: &[u8]) -> Result<Self, CodecError>;
}

impl WireMessage for UpEnvelope {
    fn to_postcard<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], CodecError> {
        UpEnvelope::to_postcard(self, buf)
    }
    fn from_postcard(bytes: &[u8]) -> Result<Self, CodecError> {
        UpEnvelope::from_postcard(bytes)
    }
}

impl WireMessage for DownEnvelope {
    fn to_postcard<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], CodecError> {
        DownEnvelope::to_postcard(self, buf)
    }
    fn from_postcard(bytes: &[u8]) -> Result<Self, CodecError> {
        DownEnvelope::from_postcard(bytes)
    }
}

/// How envelopes are written on the transport (`json` or `postcard` on a
/// command line and in a config file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// JSON, one envelope per payload: what integrators read.
    #[default]
    Json,
    /// postcard: compact, for metered or slow links.
    Postcard,
}

/// Why a payload is not an envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not JSON of an envelope this side knows.
    #[error("not an uplink message in JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not postcard of an envelope this side knows.
    #[error("not an uplink message in postcard: {0}")]
    Postcard(#[from] CodecError),
}

impl Encoding {
    /// Parses `json` or `postcard`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Encoding::Json),
            "postcard" => Some(Encoding::Postcard),
            _ => None,
        }
    }

    /// The payload for `message`.
    pub fn encode<M: WireMessage>(self, message: &M) -> Vec<u8> {
        match self {
            // Serialising a message to JSON cannot fail: every key is a string.
            Encoding::Json => serde_json::to_vec(message).unwrap_or_default(),
            Encoding::Postcard => {
                let mut buf = [0u8; MAX_POSTCARD_LEN];
                message
                    .to_postcard(&mut buf)
                    .map(|b| b.to_vec())
                    .unwrap_or_default()
            }
        }
    }

    /// The version and id of a payload whose body did not decode (a newer
    /// peer's), so the message can still be acknowledged or answered with
    /// an error.
    pub fn header(self, payload: &[u8]) -> Option<EnvelopeHeader> {
        match self {
            Encoding::Json => serde_json::from_slice(payload).ok(),
            Encoding::Postcard => EnvelopeHeader::from_postcard(payload),
        }
    }

    /// The message in `payload`.
    ///
    /// # Errors
    /// [`DecodeError`] for anything that is not a message this side knows.
    pub fn decode<M: WireMessage>(self, payload: &[u8]) -> Result<M, DecodeError> {
        match self {
            Encoding::Json => Ok(serde_json::from_slice(payload)?),
            Encoding::Postcard => Ok(M::from_postcard(payload)?),
        }
    }
}
