//! Codec benchmark (placeholder until written).
fn main() {}
