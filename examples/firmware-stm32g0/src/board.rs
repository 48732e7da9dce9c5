//! The pin map of a four-compartment lock board on an STM32G031K8.
//!
//! | channel | lock coil (out, active high) | door switch (in, low = closed) | IR beam (in, low = interrupted) | indicator (out) |
//! |---|---|---|---|---|
//! | 0 | PA0 | PB0 | PB5 | PA6 |
//! | 1 | PA1 | PB1 | PB6 | PA7 |
//! | 2 | PA4 | PB3 | PB7 | PA8 |
//! | 3 | PA5 | PB4 | PB8 | PA11 |
//!
//! With feature `auth`, two inputs inside the cabinet (internal pull-ups,
//! active low): PA15, the provisioning jumper (the node accepts a key only
//! while it is fitted), and PB9, the maintenance key switch (lifts the
//! unlock rate limit).
//!
//! Door switches close to ground when the door shuts (internal pull-up, so a
//! cut wire reads "open": a severed switch cannot hide a forced door). IR
//! modules pull their open-collector output low when the beam is interrupted.
//! Lock coils hang off logic-level MOSFETs with pull-downs, so they stay off
//! while the MCU boots.

use embassy_stm32::Peri;
use embassy_stm32::gpio::{AnyPin, Input, Level, Output, Pull, Speed};
#[cfg(feature = "async")]
use embassy_stm32::{bind_interrupts, exti, exti::ExtiInput, interrupt, peripherals, usart};

/// Channels on this board.
pub const CHANNELS: usize = 4;

/// Core clock: the reset default, HSI16 (the async build's delays count
/// `embassy-time` ticks instead of core cycles).
#[cfg_attr(feature = "async", allow(dead_code))]
pub const CORE_HZ: u32 = 16_000_000;

/// Where the record of the event queue that survives a warm reset lives
/// (`retained.rs`): a `.uninit` static, which cortex-m-rt's start-up code
/// neither loads nor zeroes, and which the STM32G0's SRAM keeps over every
/// reset but a power-on.
#[cfg(feature = "controller")]
pub fn retained_record() -> *mut [u32; 3] {
    #[unsafe(link_section = ".uninit.locker_retained")]
    static mut RECORD: core::mem::MaybeUninit<[u32; 3]> = core::mem::MaybeUninit::uninit();
    core::ptr::addr_of_mut!(RECORD).cast()
}

/// The flash the node keeps its state in (`crate::storage`).
#[cfg(feature = "controller")]
pub type Flash = embassy_stm32::flash::Flash<'static, embassy_stm32::flash::Blocking>;

/// A door switch input: a plain input for the polling loop; with feature
/// `async`, an EXTI line that wakes the main task on either edge (PB0, PB1,
/// PB3, PB4: lines 0, 1, 3, 4, distinct as EXTI requires).
#[cfg(not(feature = "async"))]
pub type DoorPin = Input<'static>;
/// A door switch input: a plain input for the polling loop; with feature
/// `async`, an EXTI line that wakes the main task on either edge (PB0, PB1,
/// PB3, PB4: lines 0, 1, 3, 4, distinct as EXTI requires).
#[cfg(feature = "async")]
pub type DoorPin = ExtiInput<'static, embassy_stm32::mode::Async>;

#[cfg(feature = "async")]
bind_interrupts!(
    /// The interrupts the async build's drivers wait on: the bus USART and
    /// the EXTI lines of the door switches.
    pub struct Irqs {
        USART1 => usart::BufferedInterruptHandler<peripherals::USART1>;
        EXTI0_1 => exti::InterruptHandler<interrupt::typelevel::EXTI0_1>;
        EXTI2_3 => exti::InterruptHandler<interrupt::typelevel::EXTI2_3>;
        EXTI4_15 => exti::InterruptHandler<interrupt::typelevel::EXTI4_15>;
    }
);

/// The raw pins of one compartment.
pub struct CompartmentPins {
    pub lock: Output<'static>,
    pub door: DoorPin,
    pub beam: Input<'static>,
    pub indicator: Output<'static>,
}

/// The board's peripherals, split into what the main loop needs.
pub struct Board {
    pub compartments: [CompartmentPins; CHANNELS],
    pub bus: crate::bus::Rs485,
    #[cfg(feature = "controller")]
    pub flash: Flash,
    #[cfg(feature = "auth")]
    pub security: SecurityInputs,
}

/// The physical inputs that only someone inside the cabinet can set.
#[cfg(feature = "auth")]
pub struct SecurityInputs {
    provisioning: Input<'static>,
    maintenance: Input<'static>,
}

#[cfg(feature = "auth")]
impl SecurityInputs {
    /// Whether the provisioning jumper is fitted.
    pub fn provisioning(&self) -> bool {
        self.provisioning.is_low()
    }

    /// Whether the maintenance key switch is on.
    pub fn maintenance(&self) -> bool {
        self.maintenance.is_low()
    }
}

impl Board {
    /// Brings up the chip and claims the pins.
    pub fn take() -> Self {
        let p = embassy_stm32::init(embassy_stm32::Config::default());
        let lock = |pin: Peri<'static, AnyPin>| Output::new(pin, Level::Low, Speed::Low);
        #[cfg(not(feature = "async"))]
        let door = |pin: Peri<'static, AnyPin>| Input::new(pin, Pull::Up);
        let beam = |pin: Peri<'static, AnyPin>| Input::new(pin, Pull::Up);
        let led = |pin: Peri<'static, AnyPin>| Output::new(pin, Level::Low, Speed::Low);
        Board {
            compartments: [
                CompartmentPins {
                    lock: lock(p.PA0.into()),
                    #[cfg(not(feature = "async"))]
                    door: door(p.PB0.into()),
                    #[cfg(feature = "async")]
                    door: ExtiInput::new(p.PB0, p.EXTI0, Pull::Up, Irqs),
                    beam: beam(p.PB5.into()),
                    indicator: led(p.PA6.into()),
                },
                CompartmentPins {
                    lock: lock(p.PA1.into()),
                    #[cfg(not(feature = "async"))]
                    door: door(p.PB1.into()),
                    #[cfg(feature = "async")]
                    door: ExtiInput::new(p.PB1, p.EXTI1, Pull::Up, Irqs),
                    beam: beam(p.PB6.into()),
                    indicator: led(p.PA7.into()),
                },
                CompartmentPins {
                    lock: lock(p.PA4.into()),
                    #[cfg(not(feature = "async"))]
                    door: door(p.PB3.into()),
                    #[cfg(feature = "async")]
                    door: ExtiInput::new(p.PB3, p.EXTI3, Pull::Up, Irqs),
                    beam: beam(p.PB7.into()),
                    indicator: led(p.PA8.into()),
                },
                CompartmentPins {
                    lock: lock(p.PA5.into()),
                    #[cfg(not(feature = "async"))]
                    door: door(p.PB4.into()),
                    #[cfg(feature = "async")]
                    door: ExtiInput::new(p.PB4, p.EXTI4, Pull::Up, Irqs),
                    beam: beam(p.PB8.into()),
                    indicator: led(p.PA11.into()),
                },
            ],
            #[cfg(not(feature = "async"))]
            bus: crate::bus::Rs485::new(p.USART1, p.PA10, p.PA9, p.PA12),
            #[cfg(feature = "async")]
            bus: crate::bus::Rs485::new(p.USART1, p.PA10, p.PA9, p.PA12, Irqs),
            #[cfg(feature = "controller")]
            flash: embassy_stm32::flash::Flash::new_blocking(p.FLASH),
            #[cfg(feature = "auth")]
            security: SecurityInputs {
                provisioning: Input::new(p.PA15, Pull::Up),
                maintenance: Input::new(p.PB9, Pull::Up),
            },
        }
    }
}
