//! The simulated RS-485 line: half duplex, one talker at a time, with
//! seeded byte corruption, frame loss, late replies and collisions.

use locker_proto::NodeAddr;
use locker_proto::time::{Duration, Instant};
use serde::Serialize;

use super::rng::Dice;

/// How bad the line is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    /// Probability that a byte on the wire has a bit flipped.
    pub corrupt_per_byte: f64,
    /// Probability that a whole frame never reaches its receiver (a
    /// receiver that was not listening, a framing error at the start).
    pub frame_loss: f64,
    /// Probability that a node answers late, past the gateway's timeout
    /// (an interrupt storm on the node), so its answer may collide with the
    /// gateway's retransmission.
    pub late_reply: f64,
}

impl Noise {
    /// A clean line.
    pub const CLEAN: Noise = Noise {
        corrupt_per_byte: 0.0,
        frame_loss: 0.0,
        late_reply: 0.0,
    };

    /// Noise by level: 0 clean, 1 a little (0.1 % of bytes corrupted, 0.5 %
    /// of frames lost: a long cable in a basement), 2 bad (1 % and 5 %, the
    /// level of the 30-day test), 3 terrible (3 % and 15 %).
    pub fn level(level: u8) -> Noise {
        let (corrupt, loss) = match level {
            0 => return Noise::CLEAN,
            1 => (0.001, 0.005),
            2 => (0.01, 0.05),
            _ => (0.03, 0.15),
        };
        Noise {
            corrupt_per_byte: corrupt,
            frame_loss: loss,
            late_reply: loss / 5.0,
        }
    }
}

/// Who put a frame on the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Talker {
    /// The gateway (bus master).
    Gateway,
    /// A compartment node.
    Node(NodeAddr),
}

/// What the line did, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LineStats {
    /// Frames put on the line.
    pub frames: u64,
    /// Bytes put on the line.
    pub bytes: u64,
    /// Frames with at least one corrupted byte.
    pub frames_corrupted: u64,
    /// Frames that never arrived.
    pub frames_lost: u64,
    /// Frames garbled by two talkers at once.
    pub collisions: u64,
    /// Node answers delayed past the gateway's timeout.
    pub late_replies: u64,
}

#[derive(Clone, Debug)]
struct OnWire {
    from: Talker,
    bytes: Vec<u8>,
    end: Instant,
    delivered: bool,
}

/// A half-duplex line at `baud` bits per second (10 bits per byte).
#[derive(Clone, Debug)]
pub struct Bus {
    noise: Noise,
    dice: Dice,
    baud: u64,
    on_wire: Vec<OnWire>,
    busy_until: Instant,
    stats: LineStats,
}

impl Bus {
    /// A line with `noise`, drawing its chance from `dice`.
    pub fn new(noise: Noise, dice: Dice) -> Self {
        Bus {
            noise,
            dice,
            baud: 115_200,
            on_wire: Vec::new(),
            busy_until: Instant::ZERO,
            stats: LineStats::default(),
        }
    }

    /// What the line did so far.
    pub fn stats(&self) -> LineStats {
        self.stats
    }

    /// How long `len` bytes take on the wire (whole milliseconds, at least 1).
    pub fn airtime(&self, len: usize) -> Duration {
        let bits = len as u64 * 10;
        Duration::from_millis((bits * 1_000).div_ceil(self.baud).max(1))
    }

    /// How long a node takes to turn the line around and answer.
    pub fn turnaround(&mut self) -> Duration {
        if self.dice.chance(self.noise.late_reply) {
            self.stats.late_replies += 1;
            Duration::from_millis(self.dice.between(60, 150))
        } else {
            Duration::from_millis(1)
        }
    }

    /// `from` starts sending `bytes` at `start`. A frame started while
    /// another is on the line garbles both.
    pub fn transmit(&mut self, from: Talker, bytes: &[u8], start: Instant) {
        let end = start + self.airtime(bytes.len());
        self.stats.frames += 1;
        self.stats.bytes += bytes.len() as u64;
        let mut bytes = bytes.to_vec();
        let mut corrupted = false;
        if start < self.busy_until {
            self.stats.collisions += 1;
            corrupted = true;
            for other in self.on_wire.iter_mut().filter(|w| w.end > start) {
                garble(&mut other.bytes, &mut self.dice);
            }
            garble(&mut bytes, &mut self.dice);
        }
        if self.noise.corrupt_per_byte > 0.0 {
            for b in bytes.iter_mut() {
                if self.dice.chance(self.noise.corrupt_per_byte) {
                    *b ^= 1 << self.dice.between(0, 7);
                    corrupted = true;
                }
            }
        }
        if corrupted {
            self.stats.frames_corrupted += 1;
        }
        let lost = self.dice.chance(self.noise.frame_loss);
        if lost {
            self.stats.frames_lost += 1;
        }
        self.busy_until = self.busy_until.max(end);
        self.on_wire.push(OnWire {
            from,
            bytes,
            end,
            delivered: lost,
        });
    }

    /// When the next frame finishes arriving, if one is on the line.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.on_wire
            .iter()
            .filter(|w| !w.delivered)
            .map(|w| w.end)
            .min()
    }

    /// The next frame that has fully arrived by `now`, oldest first.
    pub fn arrival(&mut self, now: Instant) -> Option<(Talker, Vec<u8>)> {
        let at = self
            .on_wire
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.delivered && w.end <= now)
            .min_by_key(|(_, w)| w.end)
            .map(|(i, _)| i)?;
        let wire = self.on_wire.get_mut(at)?;
        wire.delivered = true;
        let out = (wire.from, core::mem::take(&mut wire.bytes));
        // Keep only what can still collide with a later frame.
        self.on_wire.retain(|w| !w.delivered || w.end > now);
        Some(out)
    }

    /// Whether nothing is on the line or waiting to arrive.
    pub fn is_idle(&self, now: Instant) -> bool {
        self.busy_until <= now && self.on_wire.iter().all(|w| w.delivered)
    }
}

/// Two talkers at once: a few bytes of the frame become noise.
fn garble(bytes: &mut [u8], dice: &mut Dice) {
    let len = bytes.len() as u64;
    if len == 0 {
        return;
    }
    for _ in 0..3 {
        if let Some(b) = bytes.get_mut(dice.between(0, len - 1) as usize) {
            *b ^= 0x5A;
        }
    }
}
