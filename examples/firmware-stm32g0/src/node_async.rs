//! The node's main task on an Embassy executor (feature `async`).
//!
//! The same node as the polling loop (`crate::node`: address, queue, flash,
//! retained record, authentication), fed and served by the same code:
//! [`sample`](crate::node::full::sample) (security inputs, every
//! compartment's raw door, lock and presence readings, the node's timers if
//! due) and `serve_node!` (the body of the polling loop's `serve`: flash
//! writes, the answer, lock pulses, indicators, the reboot, in the node's
//! order). What differs is only the waiting:
//!
//! - between passes the task sleeps until whichever comes first: a byte
//!   in the bus's receive ring, an edge on any door switch (EXTI), the
//!   node's next timeout, or the sampling tick (IR beams and lock feedback
//!   raise no interrupt);
//! - a lock pulse and a bus answer are awaited (`embassy_time::Delay`, the
//!   USART's interrupt) instead of spinning; the core sleeps meanwhile.
//!
//! Flash writes stay blocking: the HAL's flash driver has no async API, and
//! the core could not fetch from flash while a page is erased anyway.

use embassy_futures::select::{select_array, select4};
use embassy_time::{Duration, Ticker, Timer};

use crate::board::{CHANNELS, Flash};
use crate::bus::Rs485;
use crate::compartment::Compartment;
use crate::node::full::{self as shared, CompartmentNode};
use crate::retained;

/// How often the task wakes without an event, to sample the IR beams and
/// lock contacts: the controller's debounce (30 ms by default) sees three
/// samples of a steady beam.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// [`shared::start`] in a call of its own. The node lives in the task's
/// future, which no call can return into without a copy: built inline, the
/// node's parts would be held in the task's poll function, on every poll's
/// stack; apart, only this frame holds them, once.
#[inline(never)]
fn start(
    held: Option<locker_proto::HeldEvents>,
    reason: locker_proto::ResetReason,
) -> CompartmentNode {
    shared::start(held, reason)
}

/// Runs the node forever as the executor's main task.
pub async fn run(
    mut bus: Rs485,
    mut compartments: [Compartment; CHANNELS],
    mut flash: Flash,
    #[cfg(feature = "auth")] security: crate::board::SecurityInputs,
) -> ! {
    let (held, reason) = retained::take();
    let mut node = start(held, reason.unwrap_or(crate::node::RESET_REASON));
    shared::restore(&mut node, &mut flash);
    let mut tick = Ticker::every(SAMPLE_EVERY);
    loop {
        pass(
            &mut node,
            &mut bus,
            &mut compartments,
            &mut flash,
            #[cfg(feature = "auth")]
            &security,
        )
        .await;
        let due = node.poll_timeout();
        let timeout = async {
            match due {
                Some(due) => Timer::at(embassy_time::Instant::from_millis(due.as_millis())).await,
                None => core::future::pending().await,
            }
        };
        let doors = select_array(compartments.each_mut().map(Compartment::door_changed));
        select4(bus.readable(), doors, timeout, tick.next()).await;
    }
}

/// One pass, as the polling loop's: samples and due timers, whatever the
/// node asks, then each received byte and whatever the node asks after it,
/// then the retained record.
async fn pass(
    node: &mut CompartmentNode,
    bus: &mut Rs485,
    compartments: &mut [Compartment; CHANNELS],
    flash: &mut Flash,
    #[cfg(feature = "auth")] security: &crate::board::SecurityInputs,
) {
    let now = crate::node::now();
    shared::sample(
        node,
        compartments,
        #[cfg(feature = "auth")]
        security,
        now,
    );
    serve(node, bus, compartments, flash).await;
    while let Some(byte) = bus.try_read() {
        node.handle_bytes(&[byte], now);
        serve(node, bus, compartments, flash).await;
    }
    retained::keep(node.held(), None);
}

/// Does what the node asks, as the polling loop's `serve`, awaiting the
/// bus answer and the lock pulses.
async fn serve(
    node: &mut CompartmentNode,
    bus: &mut Rs485,
    compartments: &mut [Compartment; CHANNELS],
    flash: &mut Flash,
) {
    shared::serve_node!(
        node,
        bus,
        compartments,
        flash,
        pulse_awaited,
        send_awaited,
        await
    )
}
