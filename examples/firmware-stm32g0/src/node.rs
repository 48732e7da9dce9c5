//! The node's main loop: drivers → `locker_domain::node::Node` → bus, and back.
//!
//! Board-independent: it reaches the board only through `crate::board`
//! (`CHANNELS`, `Flash`, `SecurityInputs`), `crate::bus::Rs485`
//! (`try_read`, `answer_ready`, `send`), `crate::compartment::Compartment`,
//! `crate::storage` and `crate::clock`. The QEMU board
//! (`examples/firmware-qemu`) compiles this same file against its own
//! modules of those names, so the loop that runs in the emulator is this
//! one.

use locker_proto::{Instant, NodeAddr, ResetReason};

use crate::clock;

/// This node's bus address (a DIP switch on a real board).
const ADDRESS: NodeAddr = NodeAddr(3);
/// Events kept until the gateway acknowledges them: one input step's worth
/// (a door change, door ajar, a jam change) on each of the four channels.
/// The gateway polls several times a second and takes six per report; a
/// full queue drops the newest and counts it, and the gateway hears the
/// count. Sixteen cost 128 bytes more RAM (32 per event record).
const EVENT_QUEUE: usize = 12;

// The STM32G0 records the reset cause in RCC_CSR; reading it needs the PAC,
// which embassy keeps unstable. Until then the gateway is told honestly that
// the cause is unknown, unless the node rebooted itself on command (the
// retained record says so).
pub const RESET_REASON: ResetReason = ResetReason::Unknown;

/// The node's time: the board clock's milliseconds.
pub fn now() -> Instant {
    Instant::from_millis(clock::now_ms())
}

#[cfg(feature = "controller")]
pub use full::{CompartmentNode, run};
#[cfg(not(feature = "controller"))]
pub use link_only::run;

/// The whole node: link layer and controller in `locker_domain::node::Node`.
#[cfg(feature = "controller")]
pub mod full {
    use locker_domain::controller::{ChannelInputs, CheckedConfig, Controller};
    use locker_domain::node::Node;
    use locker_proto::{Channel, FirmwareVersion, HeldEvents, Instant, NodeConfig, ResetReason};

    use super::{ADDRESS, EVENT_QUEUE, RESET_REASON, now};
    use crate::board::{CHANNELS, Flash};
    use crate::bus::Rs485;
    use crate::compartment::Compartment;
    use crate::{retained, storage};

    /// This board's node: four channels, twelve unacknowledged events.
    pub type CompartmentNode = Node<CHANNELS, EVENT_QUEUE>;

    /// Runs the node forever.
    pub fn run(
        mut bus: Rs485,
        mut compartments: [Compartment; CHANNELS],
        mut flash: Flash,
        #[cfg(feature = "auth")] security: crate::board::SecurityInputs,
    ) -> ! {
        let (held, reason) = retained::take();
        let mut node = start(held, reason.unwrap_or(RESET_REASON));
        restore(&mut node, &mut flash);
        loop {
            pass(
                &mut node,
                &mut bus,
                &mut compartments,
                &mut flash,
                #[cfg(feature = "auth")]
                &security,
            );
        }
    }

    /// One pass of the main loop: samples, due timers, received bytes, and
    /// whatever the node asks after each.
    #[inline(never)]
    fn pass(
        node: &mut CompartmentNode,
        bus: &mut Rs485,
        compartments: &mut [Compartment; CHANNELS],
        flash: &mut Flash,
        #[cfg(feature = "auth")] security: &crate::board::SecurityInputs,
    ) {
        let now = now();
        sample(
            node,
            compartments,
            #[cfg(feature = "auth")]
            security,
            now,
        );
        serve(node, bus, compartments, flash);
        while let Some(byte) = bus.try_read() {
            node.handle_bytes(&[byte], now);
            serve(node, bus, compartments, flash);
        }
        // What a watchdog or the reset pin would cut short: the next life
        // tells the gateway how many events it never received.
        retained::keep(node.held(), None);
    }

    /// The first half of a pass, shared by every main loop: the cabinet's
    /// security inputs, every door switch, lock contact and IR beam fed raw
    /// with the time (the controller debounces), then the node's timers if
    /// they are due.
    #[inline(always)]
    pub fn sample(
        node: &mut CompartmentNode,
        compartments: &mut [Compartment; CHANNELS],
        #[cfg(feature = "auth")] security: &crate::board::SecurityInputs,
        now: Instant,
    ) {
        #[cfg(feature = "auth")]
        {
            node.set_provisioning(security.provisioning());
            node.set_maintenance(security.maintenance());
        }
        for (index, compartment) in compartments.iter_mut().enumerate() {
            let channel = Channel(index as u8); // index < CHANNELS = 4
            // Every channel exists and the node drains its events after
            // each sample: nothing here is refused.
            let inputs = ChannelInputs {
                door_open: compartment.door_open(),
                lock: compartment.lock_state(),
                presence: compartment.presence(),
            };
            let _ = node.handle_inputs(channel, inputs, now);
        }
        if node.poll_timeout().is_some_and(|due| due <= now) {
            node.handle_timeout(now);
        }
    }

    /// The node as it starts, before it is given back what the flash holds,
    /// with what the last life's queue held if a warm reset kept the record.
    /// Inlined, so that the node is built in the caller's storage (`run`'s
    /// frame) part by part: the link and the controller each by a call of
    /// its own that returns it straight into its place. Built apart and
    /// returned, the node was a 1,800-byte frame on top of `run`'s, the
    /// deepest chain of the program.
    #[inline(always)]
    pub fn start(held: Option<HeldEvents>, reset_reason: ResetReason) -> CompartmentNode {
        CompartmentNode::after_reset_with(ADDRESS, reset_reason, held, controller)
    }

    /// Gives the node back what the flash holds: configuration and
    /// calibration, key and counter reservation.
    #[inline(never)]
    pub fn restore(node: &mut CompartmentNode, flash: &mut Flash) {
        storage::load(flash, node);
        #[cfg(feature = "auth")]
        if let Some(record) = storage::load_auth(flash) {
            node.restore_auth(record);
        }
    }

    /// The controller with the built-in configuration. Not inlined: it
    /// returns the controller straight into the node's place, and the
    /// `Result` it unwraps stays in this frame, which is far shallower than
    /// a pass through the loop.
    #[inline(never)]
    fn controller(reset_reason: ResetReason) -> Controller<CHANNELS> {
        let firmware = FirmwareVersion::new(0, 1, 0);
        Controller::with_checked_config(CONFIG, firmware, reset_reason, now())
    }

    /// The built-in configuration, checked when the firmware is built: IR
    /// beams read 0 or 1 beams interrupted, so one beam is an item; the
    /// rest as `NodeConfig::default()`.
    const CONFIG: CheckedConfig = match CheckedConfig::new(NodeConfig {
        debounce_ms: 30,
        door_ajar_limit_s: 60,
        presence_threshold: 1,
        max_pulse_ms: 1_000,
    }) {
        Ok(config) => config,
        Err(_) => panic!("the built-in node configuration"),
    };

    /// Does what the node asks, in its polling order: the counter
    /// reservation and any changed configuration to flash, the answer on the
    /// bus at once (the master is waiting with the bus turned around), then
    /// the lock pulses (which block the loop), indicators and the reboot.
    #[inline(never)]
    fn serve(
        node: &mut CompartmentNode,
        bus: &mut Rs485,
        compartments: &mut [Compartment; CHANNELS],
        flash: &mut Flash,
    ) {
        self::serve_node!(node, bus, compartments, flash, pulse, send)
    }

    /// The body of `serve`, written once for every main loop: the blocking
    /// one above expands it with `pulse` and `send`, the async one
    /// (`node_async.rs`) with the awaited `pulse_awaited` and `send_awaited`
    /// and `await`: the only difference. A macro, because one function
    /// cannot both block and await (and a shared function handing back each
    /// compartment's step cost the blocking build 52 bytes of flash).
    ///
    /// The counter reservation and changed configuration go to flash
    /// blocking in both loops: the HAL's flash has no async API, and the
    /// core stalls on flash fetches during a page erase anyway.
    macro_rules! serve_node {
        ($node:expr, $bus:expr, $compartments:expr, $flash:expr,
         $pulse:ident, $send:ident $(, $awaited:ident)?) => {
            loop {
                while let Some(action) = $node.poll_action() {
                    use locker_domain::controller::Action as Controller;
                    use locker_domain::node::Action;
                    match action {
                        Action::Controller(Controller::PulseLock { channel, duration }) => {
                            if let Some(compartment) = $compartments.get_mut(channel.index()) {
                                compartment.$pulse(duration.as_millis())$(.$awaited)?;
                            }
                        }
                        Action::Controller(Controller::SetIndicator { channel, indicator }) => {
                            if let Some(compartment) = $compartments.get_mut(channel.index()) {
                                compartment
                                    .indicate(!matches!(indicator, locker_proto::Indicator::Off));
                            }
                        }
                        Action::Controller(Controller::Persist) => {
                            $crate::storage::save($flash, $node)
                        }
                        // Unconfirmed, the node stays silent and offers the
                        // record again after the next frame or timeout.
                        #[cfg(feature = "auth")]
                        Action::PersistAuth(record) => {
                            let stored = $crate::storage::save_auth($flash, &record);
                            if stored {
                                let _ = $node.persisted(&record);
                            }
                        }
                        Action::Controller(Controller::Reboot(kind)) => {
                            $crate::retained::keep($node.held(), Some(kind));
                            cortex_m::peripheral::SCB::sys_reset()
                        }
                        _ => {}
                    }
                }
                if !$node.has_transmit() {
                    return;
                }
                $bus.answer_ready();
                // Encoded where it waits in the node: a copy of the answer
                // in this frame would lie under its tag's HMAC.
                let mut tx = [0u8; locker_proto::frame::MAX_FRAME];
                if let Some(Ok(wire)) = $node.transmit_into(&mut tx) {
                    $bus.$send(wire)$(.$awaited)?;
                }
            }
        };
    }
    pub(crate) use serve_node;
}

/// Without the controller (the footprint report's `proto` configuration):
/// the link alone, answering pings. It moves no lock, so there is nothing to
/// join it to.
#[cfg(not(feature = "controller"))]
mod link_only {
    use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
    use locker_proto::link::NodeLink;
    use locker_proto::{Command, FirmwareVersion, NackReason, ProtocolVersions, Report};

    use super::{ADDRESS, EVENT_QUEUE, RESET_REASON, now};
    use crate::board::CHANNELS;
    use crate::bus::Rs485;
    use crate::compartment::Compartment;

    /// Runs the node forever.
    pub fn run(mut bus: Rs485, mut compartments: [Compartment; CHANNELS]) -> ! {
        let started = now();
        let mut link = NodeLink::<EVENT_QUEUE>::new(ADDRESS, RESET_REASON);
        let mut decoder = Decoder::new();
        let mut tx = [0u8; MAX_FRAME];
        loop {
            let now = now();
            for compartment in compartments.iter_mut() {
                let open = compartment.door_open();
                let occupied = compartment.presence() != 0;
                compartment.indicate(open ^ occupied);
            }
            while let Some(byte) = bus.try_read() {
                let received = [byte];
                let mut input = &received[..];
                while !input.is_empty() {
                    match decoder.feed::<Command>(input) {
                        Feed::Consumed => break,
                        Feed::Frame { frame, remaining } => {
                            let auth = decoder.last_authenticated();
                            if let Some(command) = link.handle_received(&frame, auth, now) {
                                link.respond(match command {
                                    Command::Ping { .. } => Report::Pong {
                                        firmware: FirmwareVersion::new(0, 1, 0),
                                        uptime_ms: u32::try_from(
                                            now.saturating_since(started).as_millis(),
                                        )
                                        .unwrap_or(u32::MAX),
                                        reset_reason: RESET_REASON,
                                        versions: ProtocolVersions::BUS,
                                    },
                                    _ => Report::Nack(NackReason::Unsupported),
                                });
                            }
                            input = remaining;
                        }
                        // A corrupt frame is the master's to retransmit.
                        Feed::Error { remaining, .. } => input = remaining,
                    }
                }
                // Answer at once: the master is waiting with the bus turned around.
                if let Some(answer) = link.poll_outgoing() {
                    if let Ok(wire) = answer.encode(&mut tx) {
                        bus.send(wire);
                    }
                }
            }
        }
    }
}
