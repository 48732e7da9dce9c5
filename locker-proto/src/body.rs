//! The two bus bodies, [`Command`] and [`Report`], as the frame codec writes
//! and reads them: the [`Body`] trait.
//!
//! The wire form is postcard's (see [`message`](crate::message)), and serde
//! derives it for every message type. A compartment node, though, only ever
//! reads commands and writes reports, and on a Cortex-M0 serde's generic
//! code for those two directions is the largest part of the codec. So the
//! node's two directions are written here by hand, in postcard's form:
//! [`Report`]'s writer and [`Command`]'s reader. The gateway's two
//! directions (writing commands, reading reports) stay with serde.
//!
//! Each direction therefore has serde on one end and this module on the
//! other, and the two must agree byte for byte: the crate's tests check it
//! for arbitrary messages and arbitrary bytes (`tests/body_codec.rs`), and
//! the golden frames of `tests/bus_golden.rs` pin both.
//!
//! Both halves are written for size: the writer keeps going past the end
//! of its buffer and says so once at the end, and the reader reads zeros
//! past the end of its input and says so once at the end, so no field
//! needs a check of its own.

use serde::{Serialize, de::DeserializeOwned};

use crate::message::{
    BulkStatus, ChannelStatus, Command, Event, EventRecord, HeldEvents, Indicator, NackReason,
    NodeConfig, RebootKind, Report,
};
use crate::vocab::{Channel, PowerStatus, Presence};
use crate::wire::{Reader, Writer};
use crate::{EventSeq, KEY_LEN, NodeKey, ProtocolVersions};

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::message::Command {}
    impl Sealed for crate::message::Report {}
}

/// A body the bus carries in a [`Frame`](crate::frame::Frame): a
/// [`Command`] or a [`Report`] (sealed: the bus carries nothing else).
///
/// The frame codec ([`encode`](crate::frame::encode),
/// [`Decoder`](crate::frame::Decoder)) writes and reads bodies through it;
/// callers never need its methods.
pub trait Body: sealed::Sealed + Serialize + DeserializeOwned + Sized {
    /// Writes the body in its postcard form at the start of `out`; the
    /// length, or `None` if it does not fit.
    #[doc(hidden)]
    fn write_body(&self, out: &mut [u8]) -> Option<usize>;

    /// Reads a body from exactly `bytes`; `None` if they are not one body,
    /// or leave bytes over.
    #[doc(hidden)]
    fn read_body(bytes: &[u8]) -> Option<Self>;
}

impl Body for Command {
    /// With serde: the gateway's direction.
    fn write_body(&self, out: &mut [u8]) -> Option<usize> {
        serialize(self, out)
    }

    /// By hand: the node's direction.
    fn read_body(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let command = read_command(&mut r);
        r.finish(command)
    }
}

impl Body for Report {
    /// By hand: the node's direction.
    fn write_body(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Writer::new(out);
        write_report(&mut w, self);
        w.finish()
    }

    /// With serde: the gateway's direction.
    fn read_body(bytes: &[u8]) -> Option<Self> {
        deserialize(bytes)
    }
}

/// Serialises `body` with postcard into `out`; the length, or `None` if it
/// does not fit.
fn serialize<B: Serialize>(body: &B, out: &mut [u8]) -> Option<usize> {
    let room = out.len();
    let rest = postcard::serialize_with_flavor(body, BodyWriter { rest: out }).ok()?;
    room.checked_sub(rest)
}

/// Deserialises exactly `bytes` with postcard.
fn deserialize<B: DeserializeOwned>(bytes: &[u8]) -> Option<B> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let body = B::deserialize(&mut de).ok()?;
    matches!(de.finalize(), Ok([])).then_some(body)
}

/// A postcard output that writes byte by byte into what is left of a slice.
/// postcard's own slice output copies each varint with a `memcpy` call, which
/// for one to five bytes costs more than the bytes.
struct BodyWriter<'o> {
    rest: &'o mut [u8],
}

impl postcard::ser_flavors::Flavor for BodyWriter<'_> {
    /// Bytes left unused.
    type Output = usize;

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        let (slot, rest) = core::mem::take(&mut self.rest)
            .split_first_mut()
            .ok_or(postcard::Error::SerializeBufferFull)?;
        *slot = byte;
        self.rest = rest;
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        bytes.iter().try_for_each(|&b| self.try_push(b))
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.rest.len())
    }
}

fn write_report(w: &mut Writer<'_>, report: &Report) {
    match report {
        Report::Pong {
            firmware,
            uptime_ms,
            reset_reason,
            versions,
        } => {
            w.byte(0);
            w.byte(firmware.major);
            w.byte(firmware.minor);
            w.byte(firmware.patch);
            w.u32(*uptime_ms);
            w.byte(*reset_reason as u8);
            w.byte(versions.bits());
        }
        Report::Status(status) => {
            w.byte(1);
            write_status(w, status);
        }
        Report::BulkStatus(BulkStatus {
            channels,
            door_open,
            locked,
            occupied,
            faulted,
        }) => {
            w.byte(2);
            w.byte(*channels);
            for bits in [door_open, locked, occupied, faulted] {
                w.u32(bits.0);
            }
        }
        Report::Events { events, dropped } => {
            w.byte(3);
            w.u32(events.len() as u32);
            for EventRecord { seq, event } in events {
                w.u32(u32::from(seq.0));
                write_event(w, event);
            }
            w.u32(u32::from(*dropped));
        }
        Report::Ack => w.byte(4),
        Report::Nack(reason) => {
            w.byte(5);
            write_nack(w, reason);
        }
        Report::AuthFloor { floor } => {
            w.byte(6);
            w.u64(floor.get());
        }
    }
}

fn write_status(w: &mut Writer<'_>, status: &ChannelStatus) {
    w.byte(status.channel.0);
    w.byte(status.door as u8);
    w.byte(status.lock as u8);
    write_presence(w, &status.presence);
    w.some(status.fault.is_some());
    if let Some(fault) = status.fault {
        w.byte(fault as u8);
    }
    w.some(status.temperature.is_some());
    if let Some(t) = status.temperature {
        w.i32(i32::from(t.0));
    }
}

fn write_presence(w: &mut Writer<'_>, presence: &Presence) {
    w.byte(presence.occupied as u8);
    w.i32(presence.reading);
    w.i32(presence.threshold);
}

fn write_event(w: &mut Writer<'_>, event: &Event) {
    match event {
        Event::DoorOpened { channel, commanded } => {
            w.byte(0);
            w.byte(channel.0);
            w.byte(*commanded as u8);
        }
        Event::DoorClosed { channel } => {
            w.byte(1);
            w.byte(channel.0);
        }
        Event::PresenceChanged { channel, presence } => {
            w.byte(2);
            w.byte(channel.0);
            write_presence(w, presence);
        }
        Event::FaultRaised { channel, fault } | Event::FaultCleared { channel, fault } => {
            w.byte(if matches!(event, Event::FaultRaised { .. }) {
                3
            } else {
                4
            });
            w.some(channel.is_some());
            if let Some(channel) = channel {
                w.byte(channel.0);
            }
            w.byte(*fault as u8);
        }
        Event::Power(power) => {
            w.byte(5);
            match *power {
                PowerStatus::Mains => w.byte(0),
                PowerStatus::Battery {
                    charge_percent,
                    minutes_left,
                } => {
                    w.byte(1);
                    w.byte(charge_percent);
                    w.u32(u32::from(minutes_left));
                }
                PowerStatus::Critical { charge_percent } => {
                    w.byte(2);
                    w.byte(charge_percent);
                }
            }
        }
        Event::DoorAjar { channel } => {
            w.byte(6);
            w.byte(channel.0);
        }
        Event::NodeStarted { reset_reason, held } => {
            w.byte(7);
            w.byte(*reset_reason as u8);
            w.some(held.is_some());
            if let Some(HeldEvents {
                first,
                next,
                dropped,
            }) = held
            {
                for n in [first.0, next.0, *dropped] {
                    w.u32(u32::from(n));
                }
            }
        }
        Event::CommandsRefused { refused, reason } => {
            w.byte(8);
            w.u32(u32::from(*refused));
            write_nack(w, reason);
        }
    }
}

fn write_nack(w: &mut Writer<'_>, reason: &NackReason) {
    let index = match reason {
        NackReason::UnknownChannel => 0,
        NackReason::Busy => 1,
        NackReason::NotPermitted => 2,
        NackReason::InvalidConfig => 3,
        NackReason::Faulted => 4,
        NackReason::Unsupported => 5,
        NackReason::Unauthenticated => 6,
        NackReason::Stale { floor } => {
            w.byte(7);
            w.u64(floor.get());
            return;
        }
        NackReason::RateLimited => 8,
        NackReason::ProvisioningDisabled => 9,
    };
    w.byte(index);
}

impl NodeConfig {
    /// Writes the configuration in its wire form (postcard's), as a
    /// [`Command::Configure`] carries it: for a node's saved state, which
    /// keeps it so.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.u32(u32::from(self.debounce_ms));
        w.u32(u32::from(self.door_ajar_limit_s));
        w.i32(self.presence_threshold);
        w.u32(u32::from(self.max_pulse_ms));
    }

    /// Reads a configuration in its wire form (see [`write`](Self::write));
    /// whether it was well formed, `r` says.
    pub fn read(r: &mut Reader<'_>) -> NodeConfig {
        NodeConfig {
            debounce_ms: r.u16(),
            door_ajar_limit_s: r.u16(),
            presence_threshold: r.i32(),
            max_pulse_ms: r.u16(),
        }
    }
}

fn read_command(r: &mut Reader<'_>) -> Command {
    match r.variant(12) {
        0 => Command::Ping {
            versions: ProtocolVersions::from_bits(r.byte()),
        },
        1 => Command::GetStatus {
            channel: Channel(r.byte()),
        },
        2 => Command::GetAllStatus,
        3 => Command::Unlock {
            channel: Channel(r.byte()),
            pulse_ms: r.u16(),
        },
        4 => Command::SetIndicator {
            channel: Channel(r.byte()),
            indicator: match r.variant(4) {
                0 => Indicator::Off,
                1 => Indicator::On,
                2 => Indicator::Blink,
                _ => Indicator::Error,
            },
        },
        5 => Command::Calibrate {
            channel: Channel(r.byte()),
        },
        6 => Command::Configure(NodeConfig::read(r)),
        7 => Command::PollEvents,
        8 => Command::AckEvents {
            up_to: EventSeq(r.u16()),
        },
        9 => Command::Reboot {
            kind: match r.variant(2) {
                0 => RebootKind::Soft,
                _ => RebootKind::Hard,
            },
        },
        10 => {
            let mut key = [0u8; KEY_LEN];
            for byte in &mut key {
                *byte = r.byte();
            }
            Command::Provision {
                key: NodeKey::from_bytes(key),
            }
        }
        // 11, and any index `variant` refused.
        _ => Command::GetAuthFloor,
    }
}
