//! The node's main loop: drivers → controller → link → bus, and back.

use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
use locker_proto::link::NodeLink;
use locker_proto::{Command, Instant, NodeAddr, ResetReason};

use crate::board::CHANNELS;
use crate::bus::Rs485;
use crate::clock;
use crate::compartment::Compartment;

/// This node's bus address (a DIP switch on a real board).
const ADDRESS: NodeAddr = NodeAddr(3);
/// Events kept until the gateway acknowledges them.
const EVENT_QUEUE: usize = 16;

fn now() -> Instant {
    Instant::from_millis(clock::now_ms())
}

#[cfg(feature = "controller")]
mod application {
    use embassy_stm32::flash::{Blocking, Flash};
    use locker_domain::controller::{Action, Controller};
    use locker_proto::link::NodeLink;
    use locker_proto::{
        Channel, Command, FirmwareVersion, Indicator, Instant, NodeConfig, Report, ResetReason,
    };

    use super::EVENT_QUEUE;
    use crate::board::CHANNELS;
    use crate::compartment::Compartment;
    use crate::storage;

    pub struct Application {
        controller: Controller<CHANNELS>,
        flash: Flash<'static, Blocking>,
    }

    impl Application {
        pub fn new(
            reset_reason: ResetReason,
            now: Instant,
            mut flash: Flash<'static, Blocking>,
        ) -> Self {
            // IR beams read 0 or 1 beams interrupted: one beam is an item.
            let config = NodeConfig {
                presence_threshold: 1,
                ..NodeConfig::default()
            };
            let firmware = FirmwareVersion::new(0, 1, 0);
            let Ok(mut controller) = Controller::new(config, firmware, reset_reason, now) else {
                panic!("built-in node configuration");
            };
            storage::load(&mut flash, &mut controller);
            Application { controller, flash }
        }

        pub fn sample(&mut self, compartments: &mut [Compartment; CHANNELS], now: Instant) {
            for (index, compartment) in compartments.iter_mut().enumerate() {
                let channel = Channel(index as u8);
                // A full event queue refuses the sample; the next pass
                // offers it again after the queue has drained below.
                let _ = self
                    .controller
                    .handle_door_level(channel, compartment.door_open(), now);
                let _ =
                    self.controller
                        .handle_lock_feedback(channel, compartment.lock_state(), now);
                let _ =
                    self.controller
                        .handle_presence_reading(channel, compartment.presence(), now);
            }
            if self.controller.poll_timeout().is_some_and(|due| due <= now) {
                self.controller.handle_timeout(now);
            }
        }

        pub fn events_to(&mut self, link: &mut NodeLink<EVENT_QUEUE>) {
            while let Some(event) = self.controller.poll_event() {
                // Overflow is counted by the link and reported to the gateway.
                let _ = link.push_event(event);
            }
        }

        pub fn command(&mut self, command: &Command, now: Instant) -> Report {
            self.controller.handle_command(command, now)
        }

        /// Takes back the key and counter reservation, reads the inputs
        /// inside the cabinet, and stores what the link asks to keep.
        #[cfg(feature = "auth")]
        pub fn restore_auth(&mut self, link: &mut NodeLink<EVENT_QUEUE>) {
            if let Some(record) = storage::load_auth(&mut self.flash) {
                link.restore_auth(record);
            }
        }

        #[cfg(feature = "auth")]
        pub fn secure(
            &mut self,
            link: &mut NodeLink<EVENT_QUEUE>,
            inputs: &crate::board::SecurityInputs,
        ) {
            link.set_provisioning(inputs.provisioning());
            self.controller.set_maintenance(inputs.maintenance());
            while let Some(record) = link.poll_persist() {
                if !storage::save_auth(&mut self.flash, &record) {
                    // Not confirmed: signed commands beyond the old
                    // reservation stay refused; the next pass tries again.
                    break;
                }
                link.persisted(&record);
            }
        }

        pub fn act(&mut self, compartments: &mut [Compartment; CHANNELS]) {
            while let Some(action) = self.controller.poll_action() {
                match action {
                    Action::PulseLock { channel, duration } => {
                        if let Some(compartment) = compartments.get_mut(channel.index()) {
                            compartment.pulse(duration.as_millis());
                        }
                    }
                    Action::SetIndicator { channel, indicator } => {
                        if let Some(compartment) = compartments.get_mut(channel.index()) {
                            compartment.indicate(!matches!(indicator, Indicator::Off));
                        }
                    }
                    Action::Persist => storage::save(&mut self.flash, &self.controller),
                    Action::Reboot(_) => cortex_m::peripheral::SCB::sys_reset(),
                    _ => {}
                }
            }
        }
    }
}

/// Without the controller: the link alone, answering pings.
#[cfg(not(feature = "controller"))]
mod application {
    use locker_proto::link::NodeLink;
    use locker_proto::{Command, FirmwareVersion, Instant, NackReason, Report, ResetReason};

    use super::EVENT_QUEUE;
    use crate::board::CHANNELS;
    use crate::compartment::Compartment;

    pub struct Application {
        started: Instant,
        reset_reason: ResetReason,
    }

    impl Application {
        pub fn new(reset_reason: ResetReason, now: Instant) -> Self {
            Application {
                started: now,
                reset_reason,
            }
        }

        pub fn sample(&mut self, compartments: &mut [Compartment; CHANNELS], _now: Instant) {
            for compartment in compartments.iter_mut() {
                let open = compartment.door_open();
                let occupied = compartment.presence() != 0;
                compartment.indicate(open ^ occupied);
            }
        }

        pub fn events_to(&mut self, _link: &mut NodeLink<EVENT_QUEUE>) {}

        pub fn command(&mut self, command: &Command, now: Instant) -> Report {
            match command {
                Command::Ping => Report::Pong {
                    firmware: FirmwareVersion::new(0, 1, 0),
                    uptime_ms: u32::try_from(now.saturating_since(self.started).as_millis())
                        .unwrap_or(u32::MAX),
                    reset_reason: self.reset_reason,
                },
                _ => Report::Nack(NackReason::Unsupported),
            }
        }

        pub fn act(&mut self, _compartments: &mut [Compartment; CHANNELS]) {}
    }
}

/// Runs the node forever.
pub fn run(
    mut bus: Rs485,
    mut compartments: [Compartment; CHANNELS],
    #[cfg(feature = "controller")] flash: embassy_stm32::flash::Flash<
        'static,
        embassy_stm32::flash::Blocking,
    >,
    #[cfg(feature = "auth")] security: crate::board::SecurityInputs,
) -> ! {
    // The STM32G0 records the reset cause in RCC_CSR; reading it needs the
    // PAC, which embassy keeps unstable. Until then the gateway is told
    // honestly that the cause is unknown.
    let reset_reason = ResetReason::Unknown;
    let mut link = NodeLink::<EVENT_QUEUE>::new(ADDRESS, reset_reason);
    let mut app = application::Application::new(
        reset_reason,
        now(),
        #[cfg(feature = "controller")]
        flash,
    );
    #[cfg(feature = "auth")]
    app.restore_auth(&mut link);
    let mut decoder = Decoder::new();
    let mut tx = [0u8; MAX_FRAME];

    loop {
        let now = now();
        app.sample(&mut compartments, now);
        app.events_to(&mut link);
        // The reservation is stored before any answer leaves.
        #[cfg(feature = "auth")]
        app.secure(&mut link, &security);

        while let Some(byte) = bus.try_read() {
            let received = [byte];
            let mut input = &received[..];
            while !input.is_empty() {
                match decoder.feed::<Command>(input) {
                    Feed::Consumed => break,
                    Feed::Frame { frame, remaining } => {
                        let auth = decoder.last_authenticated();
                        if let Some(command) = link.handle_received(&frame, auth, now) {
                            let report = app.command(&command, now);
                            link.respond(report);
                        }
                        input = remaining;
                    }
                    // A corrupt frame is the master's to retransmit.
                    Feed::Error { remaining, .. } => input = remaining,
                }
            }
            #[cfg(feature = "auth")]
            app.secure(&mut link, &security);
            // Answer at once: the master is waiting with the bus turned around.
            if let Some(answer) = link.poll_outgoing() {
                app.events_to(&mut link);
                if let Ok(wire) = answer.encode(&mut tx) {
                    bus.send(wire);
                }
            }
        }
        app.act(&mut compartments);
    }
}
