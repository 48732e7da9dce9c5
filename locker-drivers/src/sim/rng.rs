//! A tiny deterministic random number generator for sensor noise.

/// SplitMix64: small, fast, statistically fine for noise, and the same
/// sequence for the same seed on every platform.
///
/// ```
/// use locker_drivers::sim::SimRng;
/// let mut a = SimRng::new(42);
/// let mut b = SimRng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let n = a.symmetric(50);
/// assert!((-50..=50).contains(&n));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value uniformly spread over `-amplitude..=amplitude` (0 for an
    /// amplitude of 0 or less).
    pub fn symmetric(&mut self, amplitude: i32) -> i32 {
        if amplitude <= 0 {
            return 0;
        }
        let span = u64::from(amplitude.unsigned_abs()) * 2 + 1;
        let v = (self.next_u64() % span) as i64 - i64::from(amplitude);
        // |v| <= amplitude, which fits in i32.
        i32::try_from(v).unwrap_or(0)
    }
}
