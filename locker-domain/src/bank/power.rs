//! The bank's view of its power supply.

use locker_proto::PowerStatus;

/// Why the bank asks to be persisted now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PersistReason {
    /// The books changed (a parcel moved, a compartment changed service).
    StateChanged,
    /// Mains was lost: persist while there is time.
    OnBattery,
    /// The battery is nearly empty: persist, then shut down.
    ShutdownImminent,
}

/// Power as the bank tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PowerState {
    pub(crate) status: PowerStatus,
}

impl PowerState {
    pub(crate) const MAINS: PowerState = PowerState {
        status: PowerStatus::Mains,
    };

    /// The charge below which deposits are refused, if on battery.
    pub(crate) fn deposits_refused(&self, min_charge: u8) -> Option<u8> {
        match self.status {
            PowerStatus::Mains => None,
            PowerStatus::Battery { charge_percent, .. } => {
                (charge_percent < min_charge).then_some(charge_percent)
            }
            PowerStatus::Critical { charge_percent } => Some(charge_percent),
        }
    }

    pub(crate) fn critical(&self) -> bool {
        matches!(self.status, PowerStatus::Critical { .. })
    }
}
