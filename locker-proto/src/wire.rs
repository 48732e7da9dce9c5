//! postcard's forms of the plain values, written and read by hand: for code
//! that must be small.
//!
//! serde and postcard write every message type of this crate. On a
//! Cortex-M0, though, their generic code is the largest part of a node's
//! codec, so the node's own directions (reading a [`Command`](crate::Command),
//! writing a [`Report`](crate::Report): see [`Body`](crate::frame::Body))
//! and a node's saved state (`locker_domain::controller`) are written with
//! this [`Writer`] and [`Reader`] instead. They write and read exactly
//! postcard's bytes; the crate's tests check it against postcard for
//! arbitrary values and arbitrary bytes.
//!
//! Neither checks each value on its own: the writer counts on past the end
//! of its buffer and the reader reads zeros past the end of its input (or
//! after a malformed value), and each says once, at the end, whether
//! everything fitted or was well formed.
//!
//! ```
//! use locker_proto::wire::{Reader, Writer};
//!
//! let mut buf = [0u8; 8];
//! let mut w = Writer::new(&mut buf);
//! w.u32(300);
//! w.i32(-2);
//! let len = w.finish().unwrap();
//! assert_eq!(&buf[..len], [0xac, 0x02, 0x03]);
//! assert_eq!(postcard::to_slice(&(300u32, -2i32), &mut [0u8; 8]).unwrap(), [0xac, 0x02, 0x03]);
//!
//! let mut r = Reader::new(&buf[..len]);
//! let (a, b) = (r.u32(), r.i32());
//! assert_eq!(r.finish((a, b)), Some((300, -2)));
//! ```

/// Writes postcard's forms into a slice, counting on past its end.
#[derive(Debug)]
pub struct Writer<'o> {
    out: &'o mut [u8],
    /// Bytes written, or that would have been.
    at: usize,
}

impl<'o> Writer<'o> {
    /// A writer at the start of `out`.
    pub fn new(out: &'o mut [u8]) -> Self {
        Writer { out, at: 0 }
    }

    /// The length written, if it all fitted; `None` if `out` was too short
    /// (its bytes are then written as far as they went).
    pub fn finish(self) -> Option<usize> {
        (self.at <= self.out.len()).then_some(self.at)
    }

    /// A `u8`, a `bool` (0 or 1), a one-byte newtype: the byte itself.
    #[inline(never)]
    pub fn byte(&mut self, byte: u8) {
        if let Some(slot) = self.out.get_mut(self.at) {
            *slot = byte;
        }
        self.at += 1;
    }

    /// A `u16` or `u32`, an enum's variant index, a length: a varint, seven
    /// bits a byte, least significant first, the top bit set on every byte
    /// but the last.
    #[inline(never)]
    pub fn u32(&mut self, mut value: u32) {
        while value >= 0x80 {
            self.byte(value as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    /// A `u64`: a varint, as [`u32`](Self::u32) writes the narrower ones
    /// (apart, so that they need no 64-bit arithmetic on a 32-bit core).
    pub fn u64(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.byte(value as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    /// An `i16` or `i32`: zigzag (0, −1, 1, −2, … as 0, 1, 2, 3, …), then a
    /// varint.
    pub fn i32(&mut self, value: i32) {
        self.u32(((value << 1) ^ (value >> 31)) as u32);
    }

    /// An `Option`'s tag: 0 for `None`, 1 for `Some` (the value follows).
    pub fn some(&mut self, some: bool) {
        self.byte(u8::from(some));
    }
}

/// Reads postcard's forms from a slice. Past the end it reads zeros and
/// remembers that it ran out; a malformed value is remembered the same way.
#[derive(Debug)]
pub struct Reader<'i> {
    bytes: &'i [u8],
    bad: bool,
}

impl<'i> Reader<'i> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'i [u8]) -> Self {
        Reader { bytes, bad: false }
    }

    /// `value` if every read so far was well formed and every byte was
    /// read.
    pub fn finish<T>(self, value: T) -> Option<T> {
        (!self.bad && self.bytes.is_empty()).then_some(value)
    }

    /// Whether every read so far was well formed and within the input.
    pub fn is_good(&self) -> bool {
        !self.bad
    }

    /// A `u8` (or a one-byte newtype).
    #[inline(never)]
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&byte, rest)) => {
                self.bytes = rest;
                byte
            }
            None => {
                self.bad = true;
                0
            }
        }
    }

    /// A varint of an integer `bits` wide (16 or 32), as postcard reads
    /// it: at most as many bytes as the width needs (`bits / 7` rounded
    /// up), the last of them holding no bits beyond the width. Longer forms
    /// of a number than needed are accepted, as postcard accepts them.
    fn varint(&mut self, bits: u32) -> u32 {
        let most = bits.div_ceil(7);
        let mut value = 0u32;
        let mut shift = 0;
        loop {
            let byte = self.byte();
            value |= u32::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                // On the last byte a width allows, the bits beyond it must be clear.
                if shift / 7 == most && u32::from(byte) >> (bits - (shift - 7)) != 0 {
                    self.bad = true;
                }
                return value;
            }
            if shift / 7 == most {
                self.bad = true;
                return value;
            }
        }
    }

    /// A `u16`.
    pub fn u16(&mut self) -> u16 {
        self.varint(16) as u16
    }

    /// A `u32`.
    pub fn u32(&mut self) -> u32 {
        self.varint(32)
    }

    /// An `i16`.
    pub fn i16(&mut self) -> i16 {
        let n = self.u16();
        ((n >> 1) as i16) ^ -((n & 1) as i16)
    }

    /// An `i32`.
    pub fn i32(&mut self) -> i32 {
        let n = self.u32();
        ((n >> 1) as i32) ^ -((n & 1) as i32)
    }

    /// An enum's variant index, which must be below `variants`.
    pub fn variant(&mut self, variants: u32) -> u32 {
        let index = self.u32();
        if index >= variants {
            self.bad = true;
        }
        index
    }
}
