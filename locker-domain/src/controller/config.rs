//! Which configurations the controller accepts, and the timing it does not
//! take from the bus.

use locker_proto::{Duration, NodeConfig};

/// The longest lock pulse this firmware will ever drive, whatever the bus or
/// the saved configuration says, in milliseconds: the project's one limit,
/// [`locker_proto::MAX_UNLOCK_PULSE_MS`], which the lock drivers enforce
/// too. [`NodeConfig::max_pulse_ms`] may only lower this.
pub const PULSE_CEILING_MS: u16 = locker_proto::MAX_UNLOCK_PULSE_MS;

/// The longest debounce the controller accepts, in milliseconds. A switch
/// that needs longer is broken, and a longer debounce would hide a forced door.
pub const DEBOUNCE_CEILING_MS: u16 = 1_000;

/// Why a [`NodeConfig`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigProblem {
    /// `max_pulse_ms` is zero: no lock could ever be released.
    #[error("max_pulse_ms is 0: no lock could ever be released")]
    PulseZero,
    /// `max_pulse_ms` is above [`PULSE_CEILING_MS`].
    #[error("max_pulse_ms is above the firmware ceiling of {PULSE_CEILING_MS} ms")]
    PulseAboveCeiling,
    /// `debounce_ms` is above [`DEBOUNCE_CEILING_MS`].
    #[error("debounce_ms is above {DEBOUNCE_CEILING_MS} ms")]
    DebounceTooLong,
    /// `door_ajar_limit_s` is zero: every opening would be ajar at once.
    #[error("door_ajar_limit_s is 0: every opening would be reported ajar")]
    AjarLimitZero,
    /// `presence_threshold` is not set (0, [`NodeConfig::default`]'s) or
    /// not positive: an empty compartment would read occupied.
    #[error(
        "presence_threshold is not set: give it in the presence sensor's own units (for a load cell its driver's PresenceSensor::threshold(), in counts; 1 for IR beams), with NodeConfig::with_presence_threshold"
    )]
    ThresholdNotPositive,
}

/// Checks that `config` is one the controller can run with. Not inlined:
/// a node calls it twice (a configuration from the bus, and the one its
/// flash gives back at start), and one copy is 8 bytes less flash on a
/// Cortex-M0.
#[inline(never)]
pub(crate) const fn validate(config: &NodeConfig) -> Result<(), ConfigProblem> {
    if config.max_pulse_ms == 0 {
        Err(ConfigProblem::PulseZero)
    } else if config.max_pulse_ms > PULSE_CEILING_MS {
        Err(ConfigProblem::PulseAboveCeiling)
    } else if config.debounce_ms > DEBOUNCE_CEILING_MS {
        Err(ConfigProblem::DebounceTooLong)
    } else if config.door_ajar_limit_s == 0 {
        Err(ConfigProblem::AjarLimitZero)
    } else if config.presence_threshold < 1 {
        Err(ConfigProblem::ThresholdNotPositive)
    } else {
        Ok(())
    }
}

/// A [`NodeConfig`] the controller accepts, checked when it is made: made
/// in a `const`, the check runs when the firmware is built, and
/// [`Controller::with_checked_config`](super::Controller::with_checked_config)
/// builds the controller with no `Result` to unwrap (on a small node, a
/// `Result` holding a controller is a second copy of its channels on the
/// stack while it is built).
///
/// ```
/// use locker_domain::controller::{CheckedConfig, ConfigProblem};
/// use locker_proto::NodeConfig;
///
/// // IR beams: one interrupted beam is an item. A mistake here fails the build.
/// const BEAMS: CheckedConfig = match CheckedConfig::new(NodeConfig {
///     debounce_ms: 30,
///     door_ajar_limit_s: 60,
///     presence_threshold: 1,
///     max_pulse_ms: 1_000,
/// }) {
///     Ok(config) => config,
///     Err(_) => panic!("the built-in configuration"),
/// };
/// assert_eq!(BEAMS.get().presence_threshold, 1);
///
/// let none = NodeConfig { presence_threshold: 0, ..NodeConfig::default() };
/// assert_eq!(CheckedConfig::new(none), Err(ConfigProblem::ThresholdNotPositive));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CheckedConfig(NodeConfig);

impl CheckedConfig {
    /// `config`, if the controller accepts it.
    ///
    /// # Errors
    ///
    /// The [`ConfigProblem`] the controller would refuse it for.
    pub const fn new(config: NodeConfig) -> Result<Self, ConfigProblem> {
        match validate(&config) {
            Ok(()) => Ok(CheckedConfig(config)),
            Err(problem) => Err(problem),
        }
    }

    /// The configuration.
    pub const fn get(&self) -> &NodeConfig {
        &self.0
    }
}

/// Timing the firmware fixes at build time rather than taking from the bus
/// (the bus's [`NodeConfig`] has no field for it).
///
/// ```
/// use locker_domain::controller::Tuning;
/// use locker_proto::Duration;
///
/// let tuning = Tuning { unlock_window: Duration::from_secs(20), ..Tuning::default() };
/// assert_eq!(tuning.jam_grace, Duration::from_millis(500));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tuning {
    /// How long after an unlock a door opening counts as commanded, measured
    /// from the start of the pulse. Any later opening is reported as forced.
    pub unlock_window: Duration,
    /// How long after a pulse ends the lock feedback may take to show the
    /// release before the lock is declared jammed.
    pub jam_grace: Duration,
    /// How many unlocks the node executes in any window of time, whoever
    /// asks: even a gateway with the right key cannot empty a bank in
    /// seconds. [`Controller::set_maintenance`](super::Controller::set_maintenance)
    /// lifts it.
    pub unlock_limit: UnlockLimit,
}

impl Default for Tuning {
    /// A 10 s unlock window (a courier needs a moment to reach the door),
    /// 500 ms of grace for slow feedback contacts, and at most 10 unlocks a
    /// minute.
    fn default() -> Self {
        Tuning {
            unlock_window: Duration::from_secs(10),
            jam_grace: Duration::from_millis(500),
            unlock_limit: UnlockLimit::default(),
        }
    }
}

/// The most unlocks an [`UnlockLimit`] can allow per window: the size of the
/// log of recent unlocks the controller keeps.
pub const MAX_UNLOCKS_PER_WINDOW: u8 = 16;

/// At most `max` unlocks in any window of length `per` (a sliding window:
/// the limit holds for every interval, not per calendar minute).
///
/// ```
/// use locker_domain::controller::UnlockLimit;
/// use locker_proto::Duration;
///
/// let limit = UnlockLimit::new(4, Duration::from_secs(60));
/// assert_eq!(limit.max(), 4);
/// assert_eq!(UnlockLimit::new(200, Duration::from_secs(60)).max(), 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnlockLimit {
    max: u8,
    per: Duration,
}

impl UnlockLimit {
    /// At most `max` unlocks (1 to [`MAX_UNLOCKS_PER_WINDOW`], clamped) per `per`.
    pub const fn new(max: u8, per: Duration) -> Self {
        let max = if max == 0 {
            1
        } else if max > MAX_UNLOCKS_PER_WINDOW {
            MAX_UNLOCKS_PER_WINDOW
        } else {
            max
        };
        UnlockLimit { max, per }
    }

    /// Unlocks allowed per window.
    pub const fn max(&self) -> u8 {
        self.max
    }

    /// The window.
    pub const fn per(&self) -> Duration {
        self.per
    }
}

impl Default for UnlockLimit {
    /// 10 unlocks per minute: a courier filling a 16-door node at a brisk
    /// pace never meets it; emptying the node takes more than a minute.
    fn default() -> Self {
        UnlockLimit::new(10, Duration::from_secs(60))
    }
}
