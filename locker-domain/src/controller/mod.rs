//! The compartment node controller (node side).
