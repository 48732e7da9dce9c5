//! Puts `memory.x` where the linker finds it (cortex-m-rt's `link.x`
//! includes it) and relinks when it changes.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = fs::write(out.join("memory.x"), include_bytes!("memory.x")) {
        panic!("cannot write memory.x to {}: {e}", out.display());
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
