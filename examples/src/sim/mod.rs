//! The simulated locker bank.
