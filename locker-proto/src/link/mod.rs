//! Link layer (in progress).
