//! A Linux gateway on a real serial line.
