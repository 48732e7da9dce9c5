//! Errors of simulated devices.

/// A driver-side failure of a simulated device, set with a fault knob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SimError {
    /// The device was set to fail (`set_*_failed(true)`) and did not answer.
    #[error("the simulated device does not answer (its failure knob is on)")]
    NoAnswer,
}

/// Something a person tried that the physical compartment does not allow.
/// Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WorldError {
    /// The door is latched: it cannot be pulled open (force it with
    /// `force_door` to simulate a break-in).
    #[error("the door is latched and does not open")]
    DoorLatched,
    /// The door is shut: nothing can be put in or taken out.
    #[error("the door is shut; open it first")]
    DoorClosed,
}
