//! A Kerong board's status, and its conversion into the reports our own
//! nodes send, so the bank cannot tell a Kerong bank from ours.

use locker_proto::{
    BulkStatus, Channel, ChannelBits, ChannelStatus, DoorState, LockState, MAX_CHANNELS, Presence,
};

/// An IR beam as our nodes report presence: a binary sensor, read as 1
/// (blocked) or 0 against a threshold of 1.
pub(crate) const fn ir_presence(blocked: bool) -> Presence {
    if blocked {
        Presence::occupied(1, 1)
    } else {
        Presence::empty(0, 1)
    }
}

/// How a board's status bytes encode a latched lock.
///
/// Public implementations disagree for the KR-CU16: `julio-alv/lkaas-kerong`
/// reads a set bit as "closed", `suryavirkapur/kerong-lib` as "open". The
/// KR-CU48 captures in `AshurkovAV/KerongConsole` (cell 1 reported as
/// "lock closed" with bit 0 set) and a TypeScript CU48 driver agree with the
/// former, so the default is [`SetMeansLocked`](Self::SetMeansLocked). Check
/// it once on site: unlock a door and see which way its bit moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LockBitPolarity {
    /// A set bit means the latch is caught (the default).
    #[default]
    SetMeansLocked,
    /// A set bit means the latch is released.
    SetMeansUnlocked,
}

/// What one status exchange told about every channel of a board.
///
/// Kerong boards have one feedback contact per lock, on the latch: a latch
/// only catches when the door is shut, and a released spring-loaded door
/// pops ajar. So a latched channel reports its door [`DoorState::Closed`]
/// and an unlatched one [`DoorState::Open`]: the door reading and the lock
/// reading are the same contact, seen twice. The IR bits (where IR sensors
/// are fitted) report an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardStatus {
    channels: u8,
    locked: u64,
    items: u64,
}

impl BoardStatus {
    /// A status from raw bitmaps (channel 0 in bit 0) as the board sent them,
    /// read with `polarity`. Bits at or above `channels` are dropped.
    pub fn from_bits(
        channels: u8,
        lock_bits: u64,
        ir_bits: u64,
        polarity: LockBitPolarity,
    ) -> Self {
        let mask = if channels >= 64 {
            u64::MAX
        } else {
            (1u64 << channels) - 1
        };
        let locked = match polarity {
            LockBitPolarity::SetMeansLocked => lock_bits,
            LockBitPolarity::SetMeansUnlocked => !lock_bits,
        };
        BoardStatus {
            channels,
            locked: locked & mask,
            items: ir_bits & mask,
        }
    }

    /// How many channels the board has.
    pub fn channels(&self) -> u8 {
        self.channels
    }

    fn bit(bits: u64, channels: u8, channel: Channel) -> Option<bool> {
        (channel.0 < channels).then(|| bits & (1u64 << channel.0) != 0)
    }

    /// The channel's latch, or `None` if the board has no such channel.
    pub fn lock(&self, channel: Channel) -> Option<LockState> {
        Self::bit(self.locked, self.channels, channel).map(|l| {
            if l {
                LockState::Locked
            } else {
                LockState::Unlocked
            }
        })
    }

    /// The channel's door (see the type docs: the latch contact), or `None`
    /// if the board has no such channel.
    pub fn door(&self, channel: Channel) -> Option<DoorState> {
        Self::bit(self.locked, self.channels, channel).map(|l| {
            if l {
                DoorState::Closed
            } else {
                DoorState::Open
            }
        })
    }

    /// Whether the channel's IR sensor sees an item, or `None` if the board
    /// has no such channel. Always `false` where no sensor is fitted.
    pub fn item_detected(&self, channel: Channel) -> Option<bool> {
        Self::bit(self.items, self.channels, channel)
    }

    /// The channel's status as one of our nodes would report it, or `None`
    /// if the board has no such channel. IR sensors are binary, so the
    /// presence evidence is a reading of 0 or 1 against a threshold of 1.
    /// Kerong boards report no faults and no temperature.
    pub fn channel_status(&self, channel: Channel) -> Option<ChannelStatus> {
        let occupied = self.item_detected(channel)?;
        Some(ChannelStatus {
            channel,
            door: self.door(channel)?,
            lock: self.lock(channel)?,
            presence: ir_presence(occupied),
            fault: None,
            temperature: None,
        })
    }

    /// The board as one node's bulk status: channels `0..32` (all of a CU16).
    ///
    /// A bulk status holds at most [`MAX_CHANNELS`] channels; present a
    /// KR-CU48 as two nodes of 24 with
    /// [`bulk_status_window`](Self::bulk_status_window).
    pub fn bulk_status(&self) -> BulkStatus {
        self.bulk_status_window(Channel(0), MAX_CHANNELS as u8)
    }

    /// Channels `first..first + count` as one node's bulk status, renumbered
    /// from zero. `count` is cut to [`MAX_CHANNELS`] and to the board's last
    /// channel; the window is empty if `first` is past it.
    ///
    /// ```
    /// use locker_drivers::kerong::{BoardStatus, LockBitPolarity};
    /// use locker_proto::{Channel, ChannelBits};
    ///
    /// // A CU48 with only its channel 30 latched.
    /// let cu48 = BoardStatus::from_bits(48, 1 << 30, 0, LockBitPolarity::SetMeansLocked);
    /// let upper_half = cu48.bulk_status_window(Channel(24), 24);
    /// assert_eq!(upper_half.channels, 24);
    /// assert_eq!(upper_half.locked, ChannelBits(1 << 6));
    /// ```
    pub fn bulk_status_window(&self, first: Channel, count: u8) -> BulkStatus {
        let count = self
            .channels
            .saturating_sub(first.0)
            .min(count)
            .min(MAX_CHANNELS as u8);
        let window = |bits: u64| {
            let shifted = bits.checked_shr(u32::from(first.0)).unwrap_or(0);
            let mask = if count >= 32 {
                u32::MAX
            } else {
                (1u32 << count) - 1
            };
            ChannelBits((shifted as u32) & mask)
        };
        let locked = window(self.locked);
        BulkStatus {
            channels: count,
            door_open: ChannelBits(!locked.0 & window(u64::MAX).0),
            locked,
            occupied: window(self.items),
            faulted: ChannelBits(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cu48_splits_into_two_nodes_of_24_channels() {
        let status = BoardStatus::from_bits(48, 1 << 30, 1 << 47, LockBitPolarity::SetMeansLocked);
        let low = status.bulk_status_window(Channel(0), 24);
        let high = status.bulk_status_window(Channel(24), 24);
        assert_eq!((low.channels, high.channels), (24, 24));
        assert_eq!(low.locked, ChannelBits(0));
        assert_eq!(high.locked, ChannelBits(1 << 6));
        assert_eq!(high.occupied, ChannelBits(1 << 23));
        assert_eq!(high.door_open, ChannelBits(0x00FF_FFFF & !(1 << 6)));
        assert_eq!(status.bulk_status_window(Channel(40), 24).channels, 8);
        assert_eq!(status.bulk_status_window(Channel(48), 24).channels, 0);
        assert_eq!(status.bulk_status_window(Channel(200), 255).channels, 0);
    }

    #[test]
    fn the_first_32_channels_of_a_cu48_fill_a_bulk_status() {
        let status = BoardStatus::from_bits(48, u64::MAX, 0, LockBitPolarity::SetMeansLocked);
        let all = status.bulk_status();
        assert_eq!(all.channels, 32);
        assert_eq!(all.locked, ChannelBits(u32::MAX));
        assert_eq!(all.door_open, ChannelBits(0));
    }
}
