//! The simulation's one source of chance: a seeded ChaCha stream.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// What a bank's random stream is for ([`Dice::for_bank`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The bus's noise: corrupted bytes, lost frames, late replies.
    Bus,
    /// Arrivals and pickups.
    Traffic,
    /// The world's other chances (people's choices, incidents).
    Chance,
    /// Pickup codes.
    Codes,
    /// Fridge failures.
    Fridges,
    /// Drifting load cells.
    Drift,
    /// Dead and stuck load cells.
    BrokenCells,
    /// Each load cell's noise.
    CellNoise,
    /// The bank's bus key.
    BusKey,
    /// The bank's secret, its keys derived from it.
    BankSecret,
    /// The incarnation of the bank's `n`-th start with empty books.
    Incarnation(u64),
}

impl Stream {
    /// The stream's number within the bank's (16 bits).
    fn number(self) -> u64 {
        match self {
            Stream::Bus => 1,
            Stream::Traffic => 2,
            Stream::Chance => 3,
            Stream::Codes => 4,
            Stream::Fridges => 5,
            Stream::Drift => 6,
            Stream::BrokenCells => 7,
            Stream::CellNoise => 8,
            Stream::BusKey => 9,
            Stream::BankSecret => 10,
            Stream::Incarnation(n) => 0x100 + n.min(0xFEFF),
        }
    }
}

/// Seeded dice: every random choice of a run comes from one of these, so a
/// run is a pure function of its seed.
#[derive(Clone, Debug)]
pub struct Dice(ChaCha8Rng);

impl Dice {
    /// Dice for `seed`, on stream `stream` (one stream per bank and purpose,
    /// so adding a bank or a draw in one place leaves the others unchanged).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Dice(rng)
    }

    /// Dice for bank `index`'s draws for `stream`, from `seed`: a stream
    /// of their own, which no other bank or purpose shares.
    pub fn for_bank(seed: u64, index: usize, stream: Stream) -> Self {
        Dice::new(seed, (index as u64) << 16 | stream.number())
    }

    /// A uniform number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 random bits: every double in [0, 1) with equal spacing.
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A uniform integer in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.0.next_u64() % (hi - lo + 1)
    }

    /// An exponentially distributed value with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// A Poisson-distributed count with mean `mean` (Knuth's method; fine
    /// for the small means of daily traffic, split for larger ones).
    pub fn poisson(&mut self, mean: f64) -> u64 {
        if mean > 30.0 {
            let half = mean / 2.0;
            return self.poisson(half) + self.poisson(mean - half);
        }
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// One index drawn with the given weights (the last one if they are all zero).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

impl RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst);
    }
}
