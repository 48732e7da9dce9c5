//! One compartment's hardware as the main loop sees it: a raw door level, a
//! presence reading, lock feedback, a bounded lock pulse and an indicator.
//!
//! With the `drivers` feature the pins go through `locker-drivers`; without
//! it they are read and written directly (the footprint report's
//! "controller, no drivers" configuration).

use crate::board::CompartmentPins;

#[cfg(feature = "drivers")]
mod imp {
    use embassy_stm32::gpio::{Input, Output};
    use embedded_hal::digital::PinState;
    use locker_drivers::door::DoorSwitch;
    use locker_drivers::ir::IrPresence;
    use locker_drivers::lock::{DEFAULT_PULSE, MAX_PULSE, SolenoidLock};
    use locker_drivers::{DoorSensor, Lock, PresenceSensor};
    use locker_proto::{DoorState, Duration, LockState};

    use crate::board::DoorPin;
    #[cfg(not(feature = "async"))]
    use crate::clock::CycleDelay;
    // Both a blocking and an async delay: the blocking one is the shared
    // loop's, compiled but not run in this build.
    #[cfg(feature = "async")]
    use embassy_time::Delay as CycleDelay;

    pub struct Hardware {
        lock: SolenoidLock<Output<'static>, CycleDelay>,
        door: DoorSwitch<DoorPin>,
        beam: IrPresence<Input<'static>, 1>,
    }

    impl Hardware {
        pub fn new(lock: Output<'static>, door: DoorPin, beam: Input<'static>) -> Self {
            #[cfg(not(feature = "async"))]
            let delay = CycleDelay;
            #[cfg(feature = "async")]
            let delay = CycleDelay;
            let Ok(lock) = SolenoidLock::new(lock, delay, PinState::High, DEFAULT_PULSE) else {
                panic!("lock pin");
            };
            Hardware {
                lock,
                door: DoorSwitch::new(door, PinState::Low),
                beam: IrPresence::new([beam], PinState::Low),
            }
        }

        pub fn door_open(&mut self) -> bool {
            !matches!(self.door.door_state(), Ok(DoorState::Closed))
        }

        pub fn presence(&mut self) -> i32 {
            self.beam.reading().unwrap_or(0)
        }

        pub fn lock_state(&mut self) -> LockState {
            self.lock.lock_state().unwrap_or(LockState::Unknown)
        }

        #[cfg_attr(feature = "async", allow(dead_code))] // the blocking loop's
        pub fn pulse(&mut self, ms: u16) {
            // The controller already bounds the pulse; the driver's own bound
            // is lower still (1 s), and a refusal leaves the coil off.
            let pulse = Duration::from_millis(u64::from(ms)).min(MAX_PULSE);
            let _ = self.lock.unlock_for(pulse);
        }
    }

    /// What the async main task awaits (the async traits apart, so that
    /// their names do not clash with the blocking ones above).
    #[cfg(feature = "async")]
    mod awaited {
        use locker_drivers::asynch::DoorSensor;
        use locker_drivers::lock::MAX_PULSE;
        use locker_proto::Duration;

        use super::Hardware;

        impl Hardware {
            pub async fn pulse_awaited(&mut self, ms: u16) {
                // Bounded as the blocking pulse is.
                let pulse = Duration::from_millis(u64::from(ms)).min(MAX_PULSE);
                let _ = self.lock.unlock_for_async(pulse).await;
            }

            pub async fn door_changed(&mut self) {
                let _ = self.door.door_changed().await;
            }
        }
    }
}

#[cfg(not(feature = "drivers"))]
mod imp {
    use embassy_stm32::gpio::{Input, Output};

    #[cfg_attr(feature = "proto", allow(dead_code))] // the link-only configuration moves no lock
    pub struct Hardware {
        lock: Output<'static>,
        door: Input<'static>,
        beam: Input<'static>,
    }

    impl Hardware {
        pub fn new(lock: Output<'static>, door: Input<'static>, beam: Input<'static>) -> Self {
            Hardware { lock, door, beam }
        }

        pub fn door_open(&mut self) -> bool {
            self.door.is_high()
        }

        pub fn presence(&mut self) -> i32 {
            i32::from(self.beam.is_low())
        }

        #[cfg(feature = "controller")]
        pub fn lock_state(&mut self) -> locker_proto::LockState {
            locker_proto::LockState::Unknown
        }

        #[cfg_attr(feature = "proto", allow(dead_code))]
        pub fn pulse(&mut self, ms: u16) {
            self.lock.set_high();
            let end = crate::clock::now_ms() + u64::from(ms);
            while crate::clock::now_ms() < end {}
            self.lock.set_low();
        }
    }
}

/// One compartment.
pub struct Compartment {
    hardware: imp::Hardware,
    indicator: embassy_stm32::gpio::Output<'static>,
}

impl Compartment {
    pub fn new(pins: CompartmentPins) -> Self {
        let CompartmentPins {
            lock,
            door,
            beam,
            indicator,
        } = pins;
        Compartment {
            hardware: imp::Hardware::new(lock, door, beam),
            indicator,
        }
    }

    /// The raw door switch level: true when the door is not shut.
    pub fn door_open(&mut self) -> bool {
        self.hardware.door_open()
    }

    /// The raw presence reading: IR beams interrupted.
    pub fn presence(&mut self) -> i32 {
        self.hardware.presence()
    }

    /// The lock's feedback contact (this board has none: `Unknown`).
    #[cfg(feature = "controller")]
    pub fn lock_state(&mut self) -> locker_proto::LockState {
        self.hardware.lock_state()
    }

    /// Energises the lock for `ms` milliseconds (unused by the link-only
    /// configuration, which moves no lock). Blocks the loop for the
    /// pulse (at most the configured maximum, 1 s by default); the bus
    /// answer has already been sent, and the master retransmits anything
    /// it sends meanwhile.
    #[cfg_attr(
        any(all(feature = "proto", not(feature = "controller")), feature = "async"),
        allow(dead_code)
    )]
    pub fn pulse(&mut self, ms: u16) {
        self.hardware.pulse(ms);
    }

    /// Energises the lock for `ms` milliseconds, awaited (feature `async`):
    /// the core sleeps through the pulse and the bus keeps filling its
    /// ring buffer; the node's next pass reads it.
    #[cfg(feature = "async")]
    pub async fn pulse_awaited(&mut self, ms: u16) {
        self.hardware.pulse_awaited(ms).await;
    }

    /// Waits for an edge on the door switch (feature `async`); the pass that
    /// follows reads the level, as every pass does.
    #[cfg(feature = "async")]
    pub async fn door_changed(&mut self) {
        self.hardware.door_changed().await;
    }

    /// Lights or darkens the indicator.
    pub fn indicate(&mut self, on: bool) {
        if on {
            self.indicator.set_high();
        } else {
            self.indicator.set_low();
        }
    }
}
