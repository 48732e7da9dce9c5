//! The gateway process killed at every instant of a parcel's day, between
//! the bank and the disk: whatever the bank had made durable (its snapshot)
//! still reaches the uplink's disk queue after the restart. No audit record
//! and no "your parcel is ready" notice is lost on its way to the backend.
//!
//! The shell here is the bench's: it carries out each gateway output in
//! order (snapshot, counters, uplink state, upward messages into the disk
//! queue), and "dies" at a chosen output, which it never carries out, nor
//! anything after it. The restart restores the last snapshot and uplink
//! state written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod gateway_support;

use std::collections::BTreeSet;

use gateway_support::Bench;
use locker_domain::bank::{AuditEvent, ParcelId, SnapshotInfo, Stage};
use locker_domain::gateway::GatewayOutput;
use locker_proto::CompartmentId;
use locker_proto::time::Duration;
use locker_proto::uplink::{NotificationKind, Upward};

/// Restarts the gateway if the process died.
fn survive(bench: &mut Bench) {
    if bench.crashed {
        bench.restart_gateway();
        bench.settle();
    }
}

/// A courier's deposit and the recipient's pickup, with the process killed
/// at output `crash` (counted from the first output of the day) if given.
/// Returns the bench after the day, and the parcel if it was reserved.
fn day(crash: Option<usize>) -> (Bench, Option<(CompartmentId, ParcelId)>) {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let mark = bench.log.len();
    bench.crash_at = crash.map(|k| mark + k);

    let reserved = bench.reserve_small().ok();
    survive(&mut bench);
    // What the restarted bank still knows of the reservation.
    let parcel = reserved.and_then(|r| {
        let view = bench.gateway.bank().view(r.compartment)?;
        (view.parcel == Some(r.parcel)).then_some((r.compartment, r.parcel))
    });
    if let Some((c, _)) = parcel {
        if bench.start_deposit(c).is_ok() {
            bench.settle();
            bench.open_door(c);
            bench.put_parcel(c);
            bench.close_door(c);
        }
        survive(&mut bench);
        bench.settle();
        let code = bench.codes.last().map(|(_, code)| code.clone());
        let stored = bench.gateway.bank().view(c).map(|v| v.stage) == Some(Stage::Stored);
        if let (true, Some(code)) = (stored, code) {
            if bench.enter_code(&code).is_ok() {
                bench.settle();
                bench.open_door(c);
                bench.take_parcel(c);
                bench.close_door(c);
            }
            survive(&mut bench);
        }
    }
    bench.crash_at = None;
    survive(&mut bench);
    bench.run_for(Duration::from_secs(10));
    (bench, parcel)
}

/// The audit sequence numbers in the disk queue.
fn audit_sent(bench: &Bench) -> BTreeSet<u64> {
    bench
        .disk
        .upward
        .iter()
        .filter_map(|m| match &m.body {
            Upward::Audit(r) => Some(r.seq),
            _ => None,
        })
        .collect()
}

#[test]
fn a_crash_at_any_output_loses_no_record_or_notice_on_its_way_to_the_backend() {
    let (reference, _) = day(None);
    let outputs = reference.log.len();
    assert!(
        reference
            .log
            .iter()
            .any(|o| matches!(o, GatewayOutput::Upward(_))),
        "the day sends messages up"
    );
    let mut crashes = 0;
    let mut told_after_crash = 0;
    for k in 0..outputs {
        let (bench, parcel) = day(Some(k));
        if bench.restarts == 0 {
            continue; // the day ended before output k
        }
        crashes += 1;
        // Every record some snapshot on disk held went up.
        let durable = bench
            .disk
            .snapshots
            .iter()
            .map(|(s, _)| SnapshotInfo::read(s).unwrap().next_seq)
            .max()
            .unwrap_or(0);
        let sent = audit_sent(&bench);
        for seq in 0..durable {
            assert!(
                sent.contains(&seq),
                "crash at output {k}: audit record {seq} never reached the disk queue"
            );
        }
        // A deposit the books verified was announced to the backend.
        let Some((c, p)) = parcel else { continue };
        let verified = bench.audit().iter().any(|r| {
            r.compartment == Some(c)
                && r.parcel == Some(p)
                && r.event == AuditEvent::DepositVerified
        });
        let announced = bench.disk.upward.iter().any(|m| {
            matches!(&m.body, Upward::Notification(n)
                if n.kind == NotificationKind::ParcelReady && n.parcel.map(|x| x.0) == Some(p.0))
        });
        assert!(
            !verified || announced,
            "crash at output {k}: the parcel was stored but its recipient never told"
        );
        told_after_crash += usize::from(verified && announced);
    }
    assert!(crashes > 50, "the day has many crash points ({crashes})");
    assert!(
        told_after_crash > 10,
        "many crashes fall after the deposit ({told_after_crash})"
    );
    eprintln!("{crashes} crash points, {told_after_crash} after a verified deposit");
}
