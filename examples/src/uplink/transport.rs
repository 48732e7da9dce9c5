//! How envelopes travel between gateway and backend.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What a transport reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// Connected (again): whatever was in flight may be lost; send it again.
    Up,
    /// The connection is gone.
    Down,
    /// A payload arrived.
    Message(Vec<u8>),
}

/// Why a payload was not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Not connected: the payload was not sent; it waits in the queue.
    #[error("the uplink is not connected; the message waits in the queue")]
    Down,
}

/// One end of a link that carries payloads to the other end.
pub trait Transport: Send + std::fmt::Debug {
    /// Sends one payload.
    ///
    /// # Errors
    /// [`TransportError::Down`] when not connected.
    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError>;

    /// The next event, if any (never blocks).
    fn poll(&mut self) -> Option<TransportEvent>;
}

#[derive(Debug, Default)]
struct Wire {
    up: bool,
    to: [VecDeque<TransportEvent>; 2],
}

/// Two ends of a link in one process, for tests: payloads sent on one end
/// arrive on the other; [`MemoryTransport::set_up`] cuts or restores the link.
#[derive(Clone, Debug)]
pub struct MemoryTransport {
    wire: Arc<Mutex<Wire>>,
    side: usize,
}

impl MemoryTransport {
    /// Two connected ends.
    pub fn pair() -> (MemoryTransport, MemoryTransport) {
        let wire = Arc::new(Mutex::new(Wire {
            up: true,
            to: [
                VecDeque::from([TransportEvent::Up]),
                VecDeque::from([TransportEvent::Up]),
            ],
        }));
        (
            MemoryTransport {
                wire: wire.clone(),
                side: 0,
            },
            MemoryTransport { wire, side: 1 },
        )
    }

    /// Cuts the link (everything in transit is lost) or restores it.
    pub fn set_up(&self, up: bool) {
        let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
        if wire.up == up {
            return;
        }
        wire.up = up;
        let event = if up {
            TransportEvent::Up
        } else {
            TransportEvent::Down
        };
        for queue in &mut wire.to {
            queue.retain(|e| !matches!(e, TransportEvent::Message(_)));
            queue.push_back(event.clone());
        }
    }
}

impl Transport for MemoryTransport {
    fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
        if !wire.up {
            return Err(TransportError::Down);
        }
        if let Some(queue) = wire.to.get_mut(1 - self.side) {
            queue.push_back(TransportEvent::Message(payload.to_vec()));
        }
        Ok(())
    }

    fn poll(&mut self) -> Option<TransportEvent> {
        let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
        wire.to.get_mut(self.side)?.pop_front()
    }
}
