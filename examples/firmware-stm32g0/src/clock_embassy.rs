//! The node's millisecond clock in the async build: `embassy-time`'s, kept
//! by a hardware timer (embassy-stm32's `time-driver-any`), so that the
//! node's deadlines (`Node::poll_timeout`) and the executor's timers count
//! the same milliseconds. SysTick is left alone: no 1 kHz interrupt wakes
//! the core between events.

/// Milliseconds since the HAL started its time driver.
pub fn now_ms() -> u64 {
    embassy_time::Instant::now().as_millis()
}
