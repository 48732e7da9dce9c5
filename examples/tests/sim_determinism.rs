//! Same seed, same output, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use locker_examples::sim::{IncidentRates, Noise, SimConfig, run};

fn everything(config: &SimConfig) -> String {
    let outcome = run(config, &mut |_| {}).unwrap();
    format!(
        "{}{}{}{}",
        outcome.timeline_text(),
        outcome.summary.render(),
        serde_json::to_string(&outcome.summary).unwrap(),
        outcome.svg()
    )
}

#[test]
fn two_runs_with_the_same_seed_print_the_same_bytes() {
    let config = SimConfig {
        seed: 42,
        days: 4,
        noise_level: 2,
        noise: Noise::level(2),
        rates: IncidentRates::default().scaled(20.0),
        ..SimConfig::default()
    };
    let first = everything(&config);
    assert_eq!(first, everything(&config));
    let other = SimConfig { seed: 43, ..config };
    assert_ne!(first, everything(&other), "the seed must matter");
}

#[test]
fn the_program_prints_the_same_bytes_for_the_same_seed() {
    let once = || {
        let out = Command::new(env!("CARGO_BIN_EXE_locker-sim"))
            .args([
                "--seed",
                "7",
                "--days",
                "3",
                "--compartments",
                "80",
                "--noise",
                "2",
            ])
            .output()
            .expect("locker-sim runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let first = once();
    assert!(first.len() > 500);
    assert_eq!(first, once());
}
