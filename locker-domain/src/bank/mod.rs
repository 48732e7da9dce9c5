//! The locker bank state machine (gateway side).
