//! The whole gateway in scenarios from a locker's life: a bank of eight
//! compartments on two real nodes (link layer and controller), a line that
//! loses, corrupts and lets an attacker speak, and a shell that persists
//! what the gateway asks, in the order it asks (see `gateway_support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod gateway_support;

use gateway_support::{Bench, LineFault, NODE_1, NODE_2, wiring};
use locker_domain::bank::codes::KeypadId;
use locker_domain::bank::{
    AlertKind, AuditEvent, BankError, BankOutput, CodeOutcome, DepositsClosed, DoorPhase, Evidence,
    NotificationKind, Purpose, StaffId, Stage,
};
use locker_domain::gateway::{
    GatewayOutput, POWER_CYCLE_AFTER, POWER_CYCLE_AGAIN, POWER_CYCLE_ATTEMPTS, Persist,
};
use locker_proto::time::Duration;
use locker_proto::uplink::{
    Downward, MessageId, ParcelNeeds as Needs, ReserveCompartment, ResetTarget, Response, Upward,
};
use locker_proto::{
    Command, CompartmentId, Event, EventRecord, EventSeq, FaultCode, NodeAddr, Presence,
    ProtocolVersions, RebootKind, ResetReason, SizeClass,
};

const BACKEND_EPOCH: u32 = 1_700_000;

fn stage(bench: &Bench, c: CompartmentId) -> Stage {
    bench.gateway.bank().view(c).unwrap().stage
}

fn unlocks_executed(bench: &Bench, node: NodeAddr) -> usize {
    bench
        .nodes
        .iter()
        .find(|n| n.addr == node)
        .unwrap()
        .executed
        .iter()
        .filter(|c| matches!(c, Command::Unlock { .. }))
        .count()
}

/// Every audit record the shell appended was already in the snapshot on
/// disk when it came out: a bank restored from the last snapshot written
/// before the record knows it (it replays it or numbers past it).
fn assert_every_audit_record_was_on_disk_first(bench: &Bench) {
    let mut checked = 0;
    for (index, output) in bench.log.iter().enumerate() {
        let GatewayOutput::Audit(record) = output else {
            continue;
        };
        let (snapshot, _) = bench
            .disk
            .snapshots
            .iter()
            .rev()
            .find(|(_, at)| *at < index)
            .unwrap_or_else(|| panic!("audit record {} came out before any snapshot", record.seq));
        let mut restored = bench.restored_bank(snapshot);
        let replayed: Vec<_> = std::iter::from_fn(|| restored.poll())
            .filter_map(|o| match o {
                BankOutput::Audit(r) => Some(r),
                _ => None,
            })
            .collect();
        let knows = replayed.iter().any(|r| r == record)
            || replayed
                .iter()
                .any(|r| r.event == AuditEvent::Restored && r.seq > record.seq);
        assert!(
            knows,
            "audit record {} ({:?}) names a state the snapshot on disk does not hold",
            record.seq, record.event
        );
        checked += 1;
    }
    assert!(checked > 0, "no audit record to check");
}

// ----- greetings ---------------------------------------------------------------

#[test]
fn a_fresh_gateway_greets_every_node_with_a_ping_before_any_bank_command() {
    let mut bench = Bench::new();
    bench.settle();

    for node in [NODE_1, NODE_2] {
        let sent = bench.sent_to(node);
        // The link asks the node's counter floor before anything signed.
        assert_eq!(
            sent[0].command,
            Command::GetAuthFloor,
            "first frame to {node}"
        );
        let sent = bench.commands_to(node);
        assert_eq!(sent[0].command, Command::PING, "first command to {node}");
        let greeted = bench
            .first(|o| matches!(o, GatewayOutput::NodeGreeted { node: n, .. } if *n == node))
            .expect("the node answered its greeting");
        let scan = bench
            .commands_to(node)
            .into_iter()
            .find(|s| s.command == Command::GetAllStatus)
            .expect("the bank scanned the node");
        assert!(
            scan.index > greeted,
            "the status scan of {node} left before the Pong"
        );
        assert!(bench.gateway.is_greeted(node));
    }
    // Each node also reports its own power-on (its NodeStarted event), which
    // the gateway cannot tell from a restart after the greeting: it greets
    // and scans once more, harmlessly.
    assert!(bench.gateway.stats().greetings >= 2);
    assert!(bench.gateway.stats().status_reports >= 2);
    assert_eq!(bench.gateway.stats().refused_node_input, 0);
    // The scan reached the books: every compartment is known empty.
    for view in bench.gateway.bank().views() {
        assert_eq!(view.occupied, Some(false), "{:?}", view.id);
        assert_eq!(view.stage, Stage::Free);
    }
    assert!(bench.gateway.is_idle());
}

#[test]
fn a_node_that_restarts_is_greeted_again_before_its_next_bank_command() {
    let mut bench = Bench::new();
    bench.settle();
    let mark = bench.log.len();

    bench.restart_node(NODE_1, ResetReason::Watchdog);
    bench.settle();

    let after: Vec<_> = bench
        .commands_to(NODE_1)
        .into_iter()
        .filter(|s| s.index >= mark)
        .collect();
    assert_eq!(after[0].command, Command::PING, "greeted first: {after:?}");
    let greeting = bench
        .first(|o| {
            matches!(o, GatewayOutput::NodeGreeted { node, reset_reason: ResetReason::Watchdog, .. }
                if *node == NODE_1)
        })
        .expect("the restarted node answered a new greeting");
    assert!(greeting > mark);
    let scan = after
        .iter()
        .find(|s| s.command == Command::GetAllStatus)
        .expect("the bank asks a restarted node for its full status");
    assert!(scan.index > greeting);
    // Node 2 did not restart and was not bothered.
    assert!(
        !bench
            .commands_to(NODE_2)
            .iter()
            .any(|s| s.index >= mark && s.command == Command::PING)
    );

    // The restarted node takes the next unlock, once.
    let r = bench.reserve_small().unwrap();
    assert_eq!(wiring(r.compartment).0, NODE_1);
    bench.deposit(r.compartment);
    assert_eq!(bench.pulses_of(r.compartment), 1);
    assert_eq!(stage(&bench, r.compartment), Stage::Stored);
}

#[test]
fn a_node_reset_by_its_watchdog_before_its_forced_door_was_polled_raises_an_alert_and_is_scanned() {
    let mut bench = Bench::new();
    bench.settle();
    let c = bench.stored_parcel().compartment;
    let (node, _) = wiring(c);
    let mark = bench.log.len();
    let sent_mark = bench.commands_to(node).last().map_or(0, |s| s.index);

    // The bus to the node fails for a moment (nothing polls it) while a
    // thief forces the door, takes the parcel and shuts the door; then the
    // node hangs and its watchdog resets it. Its queue held three events
    // the gateway never received.
    bench.cut.push(node);
    bench.open_door(c);
    bench.take_parcel(c);
    bench.close_door(c);
    bench.warm_reset_node(node, ResetReason::Watchdog);
    bench.cut.retain(|n| *n != node);
    bench.run_for(Duration::from_secs(10));

    // The gateway is told exactly that events were lost, raises it to
    // staff, and scans the node.
    let lost = bench.log[mark..].iter().find_map(|o| match o {
        GatewayOutput::Alert(a)
            if a.kind == AlertKind::NodeFault
                && a.evidence == Evidence::Fault(FaultCode::EventsDropped) =>
        {
            Some(*a)
        }
        _ => None,
    });
    assert!(
        lost.is_some(),
        "no alert for the lost events: {:?}",
        &bench.log[mark..]
    );
    assert!(
        bench
            .commands_to(node)
            .iter()
            .any(|s| s.index > sent_mark && s.command == Command::GetAllStatus),
        "the node was not scanned after its restart"
    );
}

#[test]
fn a_node_reset_warm_after_every_event_was_delivered_raises_no_lost_events_alert() {
    let mut bench = Bench::new();
    bench.settle();
    let mark = bench.log.len();
    bench.warm_reset_node(NODE_1, ResetReason::Watchdog);
    bench.run_for(Duration::from_secs(10));
    assert!(
        !bench.log[mark..].iter().any(|o| matches!(o,
            GatewayOutput::Alert(a) if a.evidence == Evidence::Fault(FaultCode::EventsDropped))),
        "an alert for events that were all delivered: {:?}",
        &bench.log[mark..]
    );
    assert!(
        bench.log[mark..].iter().any(|o| matches!(o,
            GatewayOutput::NodeGreeted { node, .. } if *node == NODE_1)),
        "the restart was not heard"
    );
}

// ----- bus versions --------------------------------------------------------------

#[test]
fn a_node_that_speaks_versions_1_and_2_is_spoken_to_in_version_1() {
    let mut bench = Bench::new();
    bench.node(NODE_1).speaks = Some(ProtocolVersions::from_bits(0b11));
    bench.settle();

    assert_eq!(bench.gateway.bus_version(NODE_1), Some(1));
    assert_eq!(bench.gateway.bus_version(NODE_2), Some(1));
    assert!(
        bench
            .first(|o| matches!(o,
        GatewayOutput::NodeGreeted { node, version: 1, .. } if *node == NODE_1))
            .is_some()
    );
    assert_eq!(bench.gateway.stats().versions_refused, 0);
    // The greeting told the node what the gateway speaks: version 1 alone.
    let ping = bench.commands_to(NODE_1)[0].command;
    assert_eq!(
        ping,
        Command::Ping {
            versions: ProtocolVersions::from_bits(0b01)
        }
    );
    // And the node is operated as any other.
    let r = bench.reserve_small().unwrap();
    assert_eq!(wiring(r.compartment).0, NODE_1);
    bench.deposit(r.compartment);
    assert_eq!(stage(&bench, r.compartment), Stage::Stored);
}

#[test]
fn a_node_that_claims_no_version_we_speak_is_not_operated_and_the_gateway_says_so() {
    let mut bench = Bench::new();
    // A firmware that speaks only a bus version 2 (or claims nothing sane).
    bench.node(NODE_1).speaks = Some(ProtocolVersions::from_bits(0b10));
    bench.settle();

    let refused = bench
        .log
        .iter()
        .find_map(|o| match o {
            GatewayOutput::NodeRefused { node, error, .. } if *node == NODE_1 => Some(*error),
            _ => None,
        })
        .expect("the gateway says why the node is not operated");
    assert_eq!(refused.ours, ProtocolVersions::BUS);
    assert_eq!(refused.theirs, ProtocolVersions::from_bits(0b10));
    assert!(bench.gateway.stats().versions_refused >= 1);
    assert_eq!(bench.gateway.bus_version(NODE_1), None);
    assert!(!bench.gateway.is_greeted(NODE_1));
    // No bank command goes to it: only greetings and the link's own polls.
    assert!(
        bench.commands_to(NODE_1).iter().all(|s| matches!(
            s.command,
            Command::Ping { .. }
                | Command::GetAuthFloor
                | Command::PollEvents
                | Command::AckEvents { .. }
        )),
        "{:?}",
        bench.commands_to(NODE_1)
    );
    // Its compartments are unverified, and staff hear of it after the grace
    // time, as for a node that does not answer.
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Audit(r) if r.event == AuditEvent::NodeLost(NODE_1))));
    bench.run_for(gateway_support::policy().node_alert_after + Duration::from_secs(5));
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Alert(a) if a.kind == AlertKind::NodeUnreachable)));
    // The other node is operated as before.
    assert_eq!(bench.gateway.bus_version(NODE_2), Some(1));
    assert!(bench.gateway.is_greeted(NODE_2));

    // A firmware update that speaks version 1 again: greeted and operated.
    bench.node(NODE_1).speaks = None;
    bench.restart_node(NODE_1, ResetReason::PowerOn);
    bench.settle();
    assert_eq!(bench.gateway.bus_version(NODE_1), Some(1));
    assert!(bench.gateway.is_greeted(NODE_1));
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Audit(r) if r.event == AuditEvent::NodeBack(NODE_1))));
}

// ----- a delivery ----------------------------------------------------------------

#[test]
fn a_courier_deposit_goes_end_to_end_through_signed_unlocks_and_real_door_events() {
    let mut bench = Bench::new();
    bench.settle();

    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, channel) = wiring(c);
    assert_eq!(stage(&bench, c), Stage::Reserved);

    bench.start_deposit(c).unwrap();
    bench.settle();
    let unlock = bench
        .commands_to(node)
        .into_iter()
        .find(|s| matches!(s.command, Command::Unlock { channel: ch, .. } if ch == channel))
        .expect("the unlock went out");
    assert!(unlock.signed, "the unlock left unsigned");
    assert_eq!(bench.pulses_of(c), 1, "the lock was pulsed once");
    assert_eq!(bench.node(node).link.refused_commands(), 0);
    assert!(matches!(
        stage(&bench, c),
        Stage::Door {
            purpose: Purpose::Deposit,
            phase: DoorPhase::Unlocking { attempt: 0 },
            ..
        }
    ));

    bench.open_door(c);
    assert!(matches!(
        stage(&bench, c),
        Stage::Door {
            phase: DoorPhase::Open,
            ..
        }
    ));
    bench.put_parcel(c);
    bench.close_door(c);

    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!(view.stage, Stage::Stored);
    assert_eq!(view.parcel, Some(r.parcel));
    assert_eq!(view.occupied, Some(true));
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Notification(n)
            if matches!(n.kind, NotificationKind::ParcelReady) && n.compartment == c && n.parcel == Some(r.parcel))));
    assert_eq!(
        bench.audit_of(c),
        [
            AuditEvent::Reserved,
            AuditEvent::DepositCodeAccepted {
                keypad: KeypadId(1)
            },
            AuditEvent::UnlockCommanded {
                purpose: Purpose::Deposit,
                attempt: 0
            },
            AuditEvent::DoorOpened,
            AuditEvent::DoorClosed,
            AuditEvent::DepositVerified,
        ]
    );

    // The recipient collects it with the code the backend kept.
    let code = bench.codes[0].1.clone();
    assert_eq!(bench.enter_code(&code).unwrap(), CodeOutcome::Opening(c));
    bench.settle();
    assert_eq!(bench.pulses_of(c), 2);
    bench.open_door(c);
    bench.take_parcel(c);
    bench.close_door(c);
    assert_eq!(stage(&bench, c), Stage::Free);
    assert!(bench.audit_of(c).contains(&AuditEvent::PickupVerified {
        purpose: Purpose::Pickup
    }));
    // Nothing alarming happened on the way.
    assert!(
        !bench
            .log
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(_)))
    );
    let audit = bench.audit();
    for pair in audit.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "the audit trail has a gap");
    }
}

// ----- persistence order ---------------------------------------------------------

#[test]
fn nothing_signed_leaves_before_its_counter_is_stored() {
    let mut bench = Bench::new();
    bench.confirm_counters = false;
    bench.settle();

    // The shell was asked to store each node's reservation before anything else.
    assert!(matches!(
        bench.log[0],
        GatewayOutput::Persist(Persist::Counter { .. })
    ));
    assert_eq!(bench.disk.counters.len(), 2);

    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, _) = wiring(c);
    bench.start_deposit(c).unwrap();
    bench.run_for(Duration::from_secs(5));

    assert!(
        bench.sent.iter().all(|s| !s.signed),
        "a signed frame left with its counter unstored"
    );
    assert_eq!(bench.pulses_of(c), 0);
    assert_eq!(unlocks_executed(&bench, node), 0);
    assert!(bench.gateway.link().is_busy(node), "the unlock waits");
    // Queries wait as well: their challenge is made from a counter value
    // taken once per run (locker_proto::auth, "Answers"), so that no answer
    // recorded in an earlier run can pass for one in this run.
    assert!(
        bench.sent_to(node).is_empty(),
        "a query left before its challenge could be made"
    );
    // The write is durable: now the unlock leaves, signed, once.
    bench.confirm_held_counters();
    bench.settle();
    assert_eq!(bench.pulses_of(c), 1);
    let first_signed = bench
        .sent_to(node)
        .into_iter()
        .find(|s| s.signed)
        .expect("a signed frame left");
    let counter = bench
        .first(|o| {
            matches!(o, GatewayOutput::Persist(Persist::Counter { node: n, up_to })
            if *n == node && *up_to > first_signed.counter.unwrap())
        })
        .unwrap();
    assert!(counter < first_signed.index);
    bench.open_door(c);
    bench.put_parcel(c);
    bench.close_door(c);
    assert_eq!(stage(&bench, c), Stage::Stored);
}

#[test]
fn with_counters_confirmed_each_nodes_reservation_is_stored_before_its_first_signed_frame() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    bench.deposit(r.compartment);

    for node in [NODE_1, NODE_2] {
        let first_signed = bench
            .sent_to(node)
            .into_iter()
            .find(|s| s.signed)
            .expect("signed frames (event acknowledgements, the unlock) left");
        let stored = bench
            .first(
                |o| matches!(o, GatewayOutput::Persist(Persist::Counter { node: n, .. }) if *n == node),
            )
            .unwrap();
        assert!(stored < first_signed.index, "{node}");
        assert!(
            bench
                .disk
                .counters
                .iter()
                .any(|(n, up_to)| *n == node && *up_to > first_signed.counter.unwrap())
        );
    }
}

#[test]
fn the_snapshot_comes_before_the_audit_records_it_holds() {
    let mut bench = Bench::new();
    bench.settle();
    let mark = bench.log.len();

    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let persisted = bench.log[mark..]
        .iter()
        .position(|o| matches!(o, GatewayOutput::Persist(Persist::Bank(_))))
        .map(|i| i + mark)
        .expect("the reservation asked for a snapshot");
    let reserved = bench.log[mark..]
        .iter()
        .position(|o| matches!(o, GatewayOutput::Audit(a) if a.event == AuditEvent::Reserved))
        .map(|i| i + mark)
        .expect("the reservation was audited");
    assert!(persisted < reserved);

    // What was on disk when the record came out already held the reservation.
    let (snapshot, _) = bench
        .disk
        .snapshots
        .iter()
        .find(|(_, at)| *at == persisted)
        .unwrap();
    let restored = bench.restored_bank(snapshot);
    let view = restored.view(c).unwrap();
    assert_eq!(view.stage, Stage::Reserved);
    assert_eq!(view.parcel, Some(r.parcel));

    // The same holds for changes the nodes report: the whole deposit.
    bench.deposit(c);
    assert_eq!(stage(&bench, c), Stage::Stored);
    assert_every_audit_record_was_on_disk_first(&bench);
}

// ----- a node lost and back ------------------------------------------------------

#[test]
fn a_lost_node_comes_back_is_greeted_again_and_an_unlock_asked_meanwhile_never_pulses_for_nobody() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, channel) = wiring(c);

    // Someone unplugs the node's bus cable.
    bench.cut.push(node);
    bench.run_for(Duration::from_secs(3));
    let lost = bench
        .first(|o| matches!(o, GatewayOutput::NodeLost(n) if *n == node))
        .expect("the silent node is reported lost");
    assert!(!bench.gateway.is_greeted(node));
    assert!(
        bench
            .audit()
            .iter()
            .any(|a| a.event == AuditEvent::NodeLost(node))
    );

    // The courier is at the door meanwhile: the unlock cannot reach the
    // node, so the bank hears at once that it failed and nothing waits.
    bench.start_deposit(c).unwrap();
    bench.run_for(Duration::from_secs(1));
    assert_eq!(
        bench.gateway.commands_waiting(),
        0,
        "nothing piles up for a lost node"
    );
    assert_eq!(bench.pulses_of(c), 0);

    // The cable is plugged back in.
    bench.cut.clear();
    let mark = bench.log.len();
    bench.run_for(Duration::from_secs(6));
    let back = bench
        .first(|o| matches!(o, GatewayOutput::NodeBack(n) if *n == node))
        .expect("the node is reported back");
    assert!(lost < back && back >= mark);
    let after: Vec<_> = bench
        .commands_to(node)
        .into_iter()
        .filter(|s| s.index > back)
        .collect();
    assert_eq!(after[0].command, Command::PING, "greeted first: {after:?}");
    let unlocks: Vec<_> = after
        .iter()
        .filter(|s| matches!(s.command, Command::Unlock { channel: ch, .. } if ch == channel))
        .collect();
    assert!(
        unlocks.is_empty(),
        "no stale unlock once the node is back: {unlocks:?}"
    );
    assert_eq!(bench.pulses_of(c), 0, "nobody stands at the door any more");
    assert!(bench.gateway.is_greeted(node));
    assert_eq!(bench.gateway.commands_waiting(), 0);

    // The bank told the courier the door would not open.
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Notification(n) if matches!(n.kind, locker_domain::bank::NotificationKind::DoorWouldNotOpen))));
    // Back within its grace time: the loss is in the audit, but nobody
    // was called out for a cable that was out for a few seconds.
    assert!(!bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Alert(a) if a.kind == AlertKind::NodeUnreachable)));
}

#[test]
fn a_node_that_stays_away_past_its_grace_time_calls_staff_once() {
    let mut bench = Bench::new();
    bench.settle();
    let node = wiring(bench.reserve_small().unwrap().compartment).0;
    let unreachable = |bench: &Bench| {
        bench
            .log
            .iter()
            .filter(|o| {
                matches!(o,
                GatewayOutput::Alert(a) if a.kind == AlertKind::NodeUnreachable)
            })
            .count()
    };

    // The node's cable is cut for good.
    bench.cut.push(node);
    bench.run_for(Duration::from_secs(3));
    assert!(bench.gateway.link().is_lost(node));
    let grace = gateway_support::policy().node_alert_after;
    bench.run_for(grace - Duration::from_secs(10));
    assert_eq!(unreachable(&bench), 0, "still within the grace time");

    bench.run_for(Duration::from_secs(15));
    assert_eq!(
        unreachable(&bench),
        1,
        "staff are called once the grace time ran out"
    );
    bench.run_for(Duration::from_mins(10));
    assert_eq!(unreachable(&bench), 1, "and only once");
}

// ----- a hung node and its power ---------------------------------------------

#[test]
fn a_hung_node_is_power_cycled_after_a_minute_greets_again_and_its_compartments_are_scanned() {
    let mut bench = Bench::new();
    bench.settle();
    let node = NODE_1;

    // The node's firmware hangs: it answers nothing, and no frame wakes it.
    bench.hung.push(node);
    bench.run_for(Duration::from_secs(3));
    assert!(bench.gateway.link().is_lost(node), "noticed within seconds");
    let lost_at = bench.now;

    // A minute for a node that only lost frames on a noisy bus.
    bench.run_for(POWER_CYCLE_AFTER - Duration::from_secs(5));
    assert!(bench.power_cycles.is_empty(), "not before its minute");
    let mark = bench.log.len();
    bench.run_for(Duration::from_secs(15));
    assert_eq!(bench.power_cycles.len(), 1, "{:?}", bench.power_cycles);
    let (cycled, at) = bench.power_cycles[0];
    assert_eq!(cycled, node);
    assert!(at.saturating_since(lost_at) <= POWER_CYCLE_AFTER);
    assert_eq!(bench.gateway.stats().power_cycles, 1);

    // It starts afresh, is back, greeted, and the bank scans it.
    let back = bench
        .first(|o| matches!(o, GatewayOutput::NodeBack(n) if *n == node))
        .expect("the node answers again");
    assert!(back >= mark);
    assert!(bench.gateway.is_greeted(node));
    assert!(
        bench
            .commands_to(node)
            .iter()
            .any(|s| s.index > back && s.command == Command::GetAllStatus),
        "its compartments are scanned"
    );

    // Back for good: no second power cycle.
    bench.run_for(POWER_CYCLE_AGAIN.saturating_mul(2));
    assert_eq!(bench.power_cycles.len(), 1);
}

#[test]
fn a_node_that_answers_again_within_its_minute_keeps_running() {
    let mut bench = Bench::new();
    bench.settle();
    let node = NODE_1;
    // What the node's firmware carried out since it started: a restart
    // would begin the list afresh.
    let before = bench.node(node).executed.clone();
    assert!(!before.is_empty());

    // A burst of noise: the node misses its polls for half a minute.
    bench.cut.push(node);
    bench.run_for(Duration::from_secs(30));
    assert!(bench.gateway.link().is_lost(node));
    bench.cut.clear();
    bench.run_for(POWER_CYCLE_AFTER.saturating_mul(3));

    assert!(bench.power_cycles.is_empty(), "{:?}", bench.power_cycles);
    assert_eq!(bench.gateway.stats().power_cycles, 0);
    assert!(
        bench.node(node).executed.starts_with(&before),
        "the node was never restarted"
    );
    assert!(bench.gateway.is_greeted(node));
}

#[test]
fn a_node_no_power_cycle_brings_back_is_cycled_three_times_then_left_to_staff() {
    let mut bench = Bench::new();
    bench.settle();
    let node = NODE_2;

    // The node's bus cable is cut: cutting its power does not help.
    bench.cut.push(node);
    bench.run_for(Duration::from_secs(3));
    let lost_at = bench.now;
    bench.run_for(Duration::from_hours(6));

    let times: Vec<_> = bench
        .power_cycles
        .iter()
        .map(|(n, at)| {
            assert_eq!(*n, node);
            at.saturating_since(lost_at).as_secs()
        })
        .collect();
    assert_eq!(times.len(), usize::from(POWER_CYCLE_ATTEMPTS), "{times:?}");
    for (k, pair) in times.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let again = POWER_CYCLE_AGAIN.as_secs();
        assert!(gap >= again && gap <= again + 5, "gap {k}: {gap} s");
    }
    // Staff were called for the node in the meantime, once.
    let unreachable = bench
        .log
        .iter()
        .filter(|o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::NodeUnreachable))
        .count();
    assert_eq!(unreachable, 1);

    // The cable mended, the node is back: a later hang is cycled again.
    bench.cut.clear();
    bench.run_for(Duration::from_secs(10));
    assert!(bench.gateway.is_greeted(node));
    bench.hung.push(node);
    bench.run_for(POWER_CYCLE_AFTER + Duration::from_secs(10));
    assert_eq!(
        bench.power_cycles.len(),
        usize::from(POWER_CYCLE_ATTEMPTS) + 1
    );
    assert!(!bench.hung.contains(&node));
}

#[test]
fn an_unlock_the_bank_gave_up_on_while_the_node_was_lost_is_not_delivered_when_it_comes_back() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, _) = wiring(c);

    bench.cut.push(node);
    bench.run_for(Duration::from_secs(3));
    bench.start_deposit(c).unwrap();
    // The courier waits in vain; the bank retries, then gives up.
    bench.run_for(Duration::from_secs(40));
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Notification(n) if matches!(n.kind, NotificationKind::DoorWouldNotOpen))));
    assert!(
        !matches!(stage(&bench, c), Stage::Door { .. }),
        "the session is over"
    );
    let waiting = bench.gateway.commands_waiting();

    // The cable is plugged back in, long after the courier left.
    bench.cut.clear();
    bench.run_for(Duration::from_secs(10));
    assert!(bench.gateway.is_greeted(node));
    assert_eq!(
        bench.pulses_of(c),
        0,
        "the lock of {c} pulsed for nobody ({waiting} stale commands were waiting)"
    );
}

/// Node 1's cable is cut; couriers try its two doors eight times over. Each
/// time the bank retries, gives up, and staff put the doors back in service
/// for the next attempt.
fn couriers_keep_trying_a_cut_node(bench: &mut Bench, doors: [CompartmentId; 2]) {
    bench.cut.push(NODE_1);
    bench.run_for(Duration::from_secs(3));
    for _ in 0..8 {
        for c in doors {
            bench.start_deposit(c).unwrap();
        }
        bench.run_for(Duration::from_secs(35));
        for c in doors {
            let now = bench.now;
            bench
                .gateway
                .set_in_service(c, locker_domain::bank::Actor::Staff, now)
                .unwrap();
            bench.drive();
        }
    }
}

#[test]
fn a_lost_node_does_not_hold_up_the_unlocks_of_the_nodes_that_answer() {
    let mut bench = Bench::new();
    bench.settle();
    let first = bench.reserve_small().unwrap().compartment;
    let second = bench.reserve_small().unwrap().compartment;
    assert_eq!((wiring(first).0, wiring(second).0), (NODE_1, NODE_1));

    // Node 1's cable is cut. Couriers keep trying its two small doors; each
    // time the bank retries, gives up, and staff put the door back in
    // service for the next attempt.
    couriers_keep_trying_a_cut_node(&mut bench, [first, second]);
    let waiting = bench.gateway.commands_waiting();

    // A courier at node 2, which answers as always.
    let r = bench.reserve_small().unwrap();
    assert_eq!(wiring(r.compartment).0, NODE_2);
    bench.start_deposit(r.compartment).unwrap();
    bench.settle();
    assert_eq!(
        bench.pulses_of(r.compartment),
        1,
        "node 2's unlock is stuck behind {waiting} commands waiting for lost node 1"
    );
}

#[test]
fn a_backend_reset_goes_ahead_while_commands_wait_for_a_lost_node() {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let first = bench.reserve_small().unwrap().compartment;
    let second = bench.reserve_small().unwrap().compartment;
    couriers_keep_trying_a_cut_node(&mut bench, [first, second]);
    // Commands for the lost node went back to the bank as failed instead
    // of filling the queue.
    assert_eq!(bench.gateway.commands_waiting(), 0);

    // No door is open anywhere: the reset has nothing to wait for.
    let reset = request(
        &mut bench,
        1,
        Downward::Reset {
            kind: RebootKind::Hard,
            target: ResetTarget::Gateway,
        },
    );
    assert!(matches!(
        answer(&bench, reset).1,
        Response::ResetAccepted { in_flight: 0, .. }
    ));
    bench.run_for(Duration::from_secs(5));
    assert_eq!(
        bench.rebooted,
        Some(RebootKind::Hard),
        "the reset neither persisted nor rebooted"
    );
}

// ----- a noisy line ---------------------------------------------------------------

#[test]
fn garbage_and_corrupted_frames_are_counted_change_nothing_and_the_next_good_frame_is_used() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, _) = wiring(c);
    bench.drive();

    // Noise on an idle line.
    let views: Vec<_> = bench.gateway.bank().views().collect();
    let audit = bench.audit().len();
    let received = bench.gateway.stats().frames_received;
    let now = bench.now;
    bench
        .gateway
        .handle_bytes(&[0x13, 0x37, 0xff, 0x42, 0x00], now);
    bench.gateway.handle_bytes(&[0x00, 0x00, 0x07, 0x00], now);
    bench.drive();
    let bad = bench.gateway.stats().bad_frames;
    assert!(bad >= 2, "noise counted: {bad}");
    assert_eq!(bench.gateway.bank().views().collect::<Vec<_>>(), views);
    assert_eq!(bench.audit().len(), audit);
    assert_eq!(bench.gateway.stats().frames_received, received);

    // The answer to the unlock is corrupted, and its retransmission's answer
    // arrives behind a burst of noise.
    bench
        .unlock_faults
        .extend([LineFault::CorruptAnswer, LineFault::NoiseBeforeAnswer]);
    bench.start_deposit(c).unwrap();
    bench.settle();
    assert_eq!(bench.gateway.stats().bad_frames, bad + 2);
    let unlocks: Vec<_> = bench
        .sent_to(node)
        .into_iter()
        .filter(|s| matches!(s.command, Command::Unlock { .. }))
        .collect();
    assert_eq!(unlocks.len(), 2, "sent, then retransmitted");
    assert_eq!(unlocks[0].seq, unlocks[1].seq);
    assert_eq!(unlocks[0].counter, unlocks[1].counter);
    assert_eq!(unlocks_executed(&bench, node), 1);
    assert_eq!(bench.pulses_of(c), 1, "a retransmission pulses nothing");
    // The good answer was used: no retry, no lock fault.
    assert!(matches!(
        stage(&bench, c),
        Stage::Door {
            phase: DoorPhase::Unlocking { attempt: 0 },
            ..
        }
    ));
    assert!(
        !bench
            .log
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(_)))
    );
    bench.open_door(c);
    bench.put_parcel(c);
    bench.close_door(c);
    assert_eq!(stage(&bench, c), Stage::Stored);
}

// ----- an attacker on the bus ------------------------------------------------------

#[test]
fn a_forged_ack_to_a_signed_unlock_is_not_believed() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, _) = wiring(c);

    // The attacker swallows every transmission of the unlock and of its
    // retry, and answers each with an unsigned Ack copying the request's
    // header, hoping the gateway records a door unlocked that never was.
    bench.unlock_faults.extend([LineFault::ForgedAck; 6]);
    let mark = bench.log.len();
    bench.start_deposit(c).unwrap();
    bench.run_for(Duration::from_secs(1));

    // Within a second the gateway knows the first unlock went unanswered (a
    // believed Ack would have left the bank waiting for the door), and the
    // bank asks the node what its door did before it sends another.
    assert_eq!(bench.gateway.link_stats().auth_rejected, 3);
    let scans = bench
        .commands_to(node)
        .into_iter()
        .filter(|s| s.index > mark && s.command == Command::GetAllStatus)
        .count();
    assert_eq!(
        scans, 1,
        "the node's status is asked after the silent unlock"
    );
    // The door stayed shut: once the confirmation time is up, the retry.
    bench.run_for(Duration::from_secs(35));
    assert_eq!(bench.gateway.link_stats().auth_rejected, 6);
    assert_eq!(bench.pulses_of(c), 0);
    assert_eq!(unlocks_executed(&bench, node), 0);
    // Both unlocks failed, and the gateway says so: the courier is told the
    // door would not open. The node never confirmed an unlock, so the lock
    // is not blamed (no lock fault, the compartment stays in service): the
    // forged answers are what staff hear of, as a bus security alert.
    assert_eq!(
        bench.audit_of(c)[2..],
        [
            AuditEvent::UnlockCommanded {
                purpose: Purpose::Deposit,
                attempt: 0
            },
            AuditEvent::UnlockCommanded {
                purpose: Purpose::Deposit,
                attempt: 1
            },
        ]
    );
    assert!(
        !bench
            .log
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::LockFault))
    );
    assert!(
        bench.log.iter().any(
            |o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::BusCommandsRefused)
        )
    );
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Notification(n) if matches!(n.kind, NotificationKind::DoorWouldNotOpen))));
    assert_eq!(stage(&bench, c), Stage::Reserved);

    // The node itself saw nothing: no unlock, no refusal.
    bench.settle();
    assert_eq!(bench.pulses_of(c), 0);
    assert_eq!(bench.node(node).link.refused_commands(), 0);
}

#[test]
fn an_unlock_an_attacker_answered_once_is_retried_and_reaches_the_node() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, _) = wiring(c);

    // The attacker answers the first unlock's every transmission, then
    // loses the race.
    bench.unlock_faults.extend([LineFault::ForgedAck; 3]);
    bench.start_deposit(c).unwrap();
    // The bank asks the node's status, waits out the confirmation time with
    // the door shut, and sends the unlock again.
    bench.run_for(Duration::from_secs(20));
    bench.settle();
    assert_eq!(bench.gateway.link_stats().auth_rejected, 3);
    assert_eq!(bench.pulses_of(c), 1, "only the genuine retry pulsed");
    assert_eq!(unlocks_executed(&bench, node), 1);
    bench.open_door(c);
    bench.put_parcel(c);
    bench.close_door(c);
    assert_eq!(stage(&bench, c), Stage::Stored);
    assert!(
        !bench
            .log
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::LockFault))
    );
}

#[test]
fn a_forged_event_report_on_the_bus_makes_the_bank_believe_nothing() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, channel) = wiring(c);
    bench.start_deposit(c).unwrap();
    bench.settle();
    assert_eq!(bench.pulses_of(c), 1);

    // The courier walks away without opening the door. An attacker on the
    // bus answers the gateway's next event poll of the node, as the node
    // would, with a door opened, a parcel seen and the door closed again,
    // numbered well ahead of the node's own events.
    bench.forged_poll = Some((
        node,
        vec![
            EventRecord {
                seq: EventSeq(1000),
                event: Event::DoorOpened {
                    channel,
                    commanded: true,
                },
            },
            EventRecord {
                seq: EventSeq(1001),
                event: Event::PresenceChanged {
                    channel,
                    presence: Presence::occupied(300, 10),
                },
            },
            EventRecord {
                seq: EventSeq(1002),
                event: Event::DoorClosed { channel },
            },
        ],
    ));
    bench.settle();

    assert!(
        bench.forged_poll.is_none(),
        "the attacker had his chance to answer"
    );
    let believed = bench.log.iter().any(|o| {
        matches!(o,
        GatewayOutput::Notification(n) if matches!(n.kind, NotificationKind::ParcelReady))
    });

    // Then a thief forces another door of the same node.
    let other = CompartmentId(3);
    assert_eq!(wiring(other).0, node);
    bench.open_door(other);
    let forced_seen = bench
        .log
        .iter()
        .any(|o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::ForcedDoor));

    assert!(
        !believed && forced_seen,
        "the recipient was told a parcel is ready that nobody put in: {believed} ({:?}); \
         the forced door that followed was reported: {forced_seen}",
        bench.audit_of(c)
    );
    assert_ne!(stage(&bench, c), Stage::Stored);
}

// ----- the backend -------------------------------------------------------------------

fn request(bench: &mut Bench, counter: u64, body: Downward) -> MessageId {
    let id = MessageId(MessageId::first_of_epoch(BACKEND_EPOCH).0 + counter);
    let now = bench.now;
    bench
        .gateway
        .handle_downward(
            &locker_domain::uplink::sign_downward(&gateway_support::bank_keys(), id, body),
            &mut bench.dice,
            now,
        )
        .unwrap();
    bench.drive();
    id
}

fn answer(bench: &Bench, id: MessageId) -> (usize, Response) {
    bench
        .log
        .iter()
        .enumerate()
        .find_map(|(i, o)| match o {
            GatewayOutput::Upward(m) => match &m.body {
                Upward::CallResult(r) if r.request == id => Some((i, r.response.clone())),
                _ => None,
            },
            _ => None,
        })
        .expect("the request was answered")
}

#[test]
fn with_an_uplink_the_boot_notification_goes_up_first_and_every_bank_output_follows_it_up() {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();

    let boot = bench
        .first(|o| matches!(o, GatewayOutput::Upward(_)))
        .unwrap();
    let GatewayOutput::Upward(message) = &bench.log[boot] else {
        unreachable!()
    };
    assert!(matches!(message.body, Upward::BootNotification(_)));
    assert!(
        bench.log[..boot]
            .iter()
            .all(|o| matches!(o, GatewayOutput::Persist(Persist::Counter { .. }))),
        "only the counter reservations may precede the boot notification: {:?}",
        &bench.log[..boot]
    );
    // Both node greetings went up too.
    let node_boots = bench
        .upward()
        .iter()
        .filter(|m| matches!(m.body, Upward::NodeBoot(_)))
        .count();
    assert!(node_boots >= 2);

    // A delivery, and a door forced on an empty compartment.
    let r = bench.reserve_small().unwrap();
    bench.deposit(r.compartment);
    let empty = CompartmentId(8);
    bench.open_door(empty);
    bench.close_door(empty);

    let up = bench.upward();
    let audits: Vec<_> = bench.audit();
    assert!(audits.len() >= 6);
    for record in &audits {
        assert!(
            up.iter()
                .any(|m| matches!(&m.body, Upward::Audit(a) if a.seq == record.seq)),
            "audit record {} ({:?}) never went up",
            record.seq,
            record.event
        );
    }
    let alerts: Vec<_> = bench
        .log
        .iter()
        .filter_map(|o| match o {
            GatewayOutput::Alert(a) => Some(*a),
            _ => None,
        })
        .collect();
    assert!(alerts.iter().any(|a| a.kind == AlertKind::ForcedDoor));
    // Staff alerts go up as alerts, security ones (a forced door) as
    // security events.
    let alerts_up = up
        .iter()
        .filter(|m| matches!(m.body, Upward::Alert(_) | Upward::SecurityEvent(_)))
        .count();
    assert!(alerts_up >= alerts.len(), "every alert went up");
    assert!(up.iter().any(|m| matches!(&m.body,
        Upward::SecurityEvent(e) if e.compartment == Some(empty))));
    assert!(up.iter().any(|m| matches!(&m.body, Upward::ParcelEvent(_))));
    assert_eq!(bench.gateway.stats().uplink_overflow, 0);
}

#[test]
fn a_backend_reset_closes_the_bank_to_deposits_drains_the_open_door_then_persists_and_reboots() {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.confirm_reboot = false;
    bench.settle();

    // A courier is mid-deposit when the backend asks for a reset.
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    bench.start_deposit(c).unwrap();
    bench.settle();
    bench.open_door(c);

    let reset = request(
        &mut bench,
        1,
        Downward::Reset {
            kind: RebootKind::Soft,
            target: ResetTarget::Gateway,
        },
    );
    assert_eq!(
        answer(&bench, reset).1,
        Response::ResetAccepted {
            target: ResetTarget::Gateway,
            in_flight: 1
        }
    );
    let now = bench.now;
    let dice = &mut bench.dice;
    assert_eq!(
        bench.gateway.reserve(
            locker_domain::bank::ParcelNeeds::size(SizeClass::Small),
            locker_domain::bank::ParcelKind::Delivery,
            dice,
            now,
        ),
        Err(BankError::DepositsClosed(DepositsClosed::Resetting))
    );
    bench.run_for(Duration::from_secs(10));
    assert!(
        bench
            .first(|o| matches!(o, GatewayOutput::Persist(Persist::BeforeReboot(_))))
            .is_none(),
        "the courier is still at the open door"
    );
    assert_eq!(
        bench.reserve_small().unwrap_err(),
        BankError::DepositsClosed(DepositsClosed::Resetting)
    );

    // The courier finishes; the reset goes ahead.
    bench.put_parcel(c);
    bench.close_door(c);
    assert_eq!(stage(&bench, c), Stage::Stored);
    let before = bench
        .first(|o| {
            matches!(
                o,
                GatewayOutput::Persist(Persist::BeforeReboot(RebootKind::Soft))
            )
        })
        .expect("the gateway asks to persist before the reboot");
    assert!(
        bench.rebooted.is_none(),
        "no reboot before the shell persisted"
    );
    bench.run_for(Duration::from_secs(2));
    assert!(bench.rebooted.is_none());

    bench.gateway.persisted_for_reboot();
    bench.drive();
    let reboot = bench
        .first(|o| matches!(o, GatewayOutput::Reboot(RebootKind::Soft)))
        .expect("the reboot follows");
    assert!(before < reboot);
    assert_eq!(bench.rebooted, Some(RebootKind::Soft));
    // What the shell wrote for the reboot holds the finished deposit.
    let (snapshot, _) = bench.disk.snapshot.clone().unwrap();
    let restored = bench.restored_bank(&snapshot);
    assert_eq!(restored.view(c).unwrap().stage, Stage::Stored);
    assert_eq!(restored.view(c).unwrap().parcel, Some(r.parcel));
}

#[test]
fn a_reservation_the_backend_is_told_of_is_on_disk_first() {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let mark = bench.log.len();
    let id = request(
        &mut bench,
        1,
        Downward::ReserveCompartment(ReserveCompartment {
            kind: locker_proto::uplink::ParcelKind::Delivery,
            needs: Needs {
                size: Some(SizeClass::Small),
                ..Needs::default()
            },
        }),
    );
    let (told, response) = answer(&bench, id);
    let Response::Reserved { compartment, .. } = response else {
        panic!("not reserved: {response:?}")
    };
    let persisted = bench.log[mark..]
        .iter()
        .position(|o| matches!(o, GatewayOutput::Persist(Persist::Bank(_))))
        .map(|i| i + mark)
        .expect("the reservation asked for a snapshot");
    assert!(
        persisted < told,
        "the backend learnt of {compartment} (output {told}) before the snapshot holding it \
         was asked for (output {persisted}): a power cut in between and the restored bank \
         has no such reservation"
    );
}

// ----- restarts -----------------------------------------------------------------------

#[test]
fn a_gateway_restarted_from_its_disk_greets_again_and_hands_over_the_stored_parcel() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.stored_parcel();
    let c = r.compartment;
    let (node, _) = wiring(c);

    // Power cut; the gateway comes back from what its shell wrote.
    bench.restart_gateway();
    let mark = bench.restarted_at[0];
    assert_eq!(stage(&bench, c), Stage::Stored);
    assert_eq!(bench.gateway.bank().view(c).unwrap().parcel, Some(r.parcel));
    bench.settle();

    for n in [NODE_1, NODE_2] {
        let after: Vec<_> = bench
            .commands_to(n)
            .into_iter()
            .filter(|s| s.index >= mark)
            .collect();
        assert_eq!(after[0].command, Command::PING, "{n} greeted first");
        assert!(after.iter().any(|s| s.command == Command::GetAllStatus));
    }
    // The scan agrees with the books: nothing to report.
    assert!(
        !bench.log[mark..]
            .iter()
            .any(|o| matches!(o, GatewayOutput::Alert(_)))
    );

    // The recipient's code still works; the unlock is signed with a counter
    // the node accepts, and pulses once.
    let code = bench.codes[0].1.clone();
    assert_eq!(bench.enter_code(&code).unwrap(), CodeOutcome::Opening(c));
    bench.settle();
    assert_eq!(bench.pulses_of(c), 2, "one for the deposit, one now");
    assert_eq!(bench.node(node).link.refused_commands(), 0);
    bench.open_door(c);
    bench.take_parcel(c);
    bench.close_door(c);
    assert_eq!(stage(&bench, c), Stage::Free);
    assert_eq!(bench.gateway.link_stats().auth_rejected, 0);
}

#[test]
fn a_power_cut_while_the_courier_has_the_door_open_loses_no_parcel() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    bench.start_deposit(c).unwrap();
    bench.settle();
    bench.open_door(c);
    bench.put_parcel(c);

    bench.restart_gateway();
    assert!(matches!(
        stage(&bench, c),
        Stage::Door {
            purpose: Purpose::Deposit,
            ..
        }
    ));
    bench.settle();
    bench.close_door(c);

    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!(view.stage, Stage::Stored);
    assert_eq!(view.parcel, Some(r.parcel));
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Notification(n)
            if matches!(n.kind, NotificationKind::ParcelReady) && n.parcel == Some(r.parcel))));
}

#[test]
fn a_node_the_backend_resets_reboots_once_is_greeted_again_and_its_boot_names_the_request() {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let mark = bench.log.len();

    let reset = request(
        &mut bench,
        1,
        Downward::Reset {
            kind: RebootKind::Soft,
            target: ResetTarget::Node(NODE_2),
        },
    );
    assert!(matches!(
        answer(&bench, reset).1,
        Response::ResetAccepted {
            target: ResetTarget::Node(n),
            in_flight: 0
        } if n == NODE_2
    ));
    bench.settle();

    assert!(bench.log[mark..].iter().any(|o| matches!(o,
        GatewayOutput::BackendCommand { node, command: Command::Reboot { kind: RebootKind::Soft } }
            if *node == NODE_2)));
    let reboots: Vec<_> = bench
        .commands_to(NODE_2)
        .into_iter()
        .filter(|s| s.index >= mark && matches!(s.command, Command::Reboot { .. }))
        .collect();
    assert_eq!(reboots.len(), 1);
    assert!(reboots[0].signed, "a reboot is an actuating command");
    let after_reboot: Vec<_> = bench
        .commands_to(NODE_2)
        .into_iter()
        .filter(|s| s.index > reboots[0].index)
        .collect();
    assert_eq!(
        after_reboot[0].command,
        Command::PING,
        "greeted again first"
    );
    let boot = bench
        .upward()
        .into_iter()
        .find_map(|m| match m.body {
            Upward::NodeBoot(b) if b.node == NODE_2 && b.reset_request.is_some() => Some(b),
            _ => None,
        })
        .expect("the node's boot went up");
    assert_eq!(boot.reset_request, Some(reset));
    assert_eq!(boot.reset_reason, ResetReason::SoftReboot);
    // Node 1 was left alone.
    assert!(
        !bench
            .commands_to(NODE_1)
            .iter()
            .any(|s| matches!(s.command, Command::Reboot { .. }))
    );
}

// ----- anything at all ----------------------------------------------------------------

mod interleavings {
    use super::*;
    use proptest::prelude::*;

    /// One thing that happens at the bank or on its line.
    #[derive(Clone, Debug)]
    enum Op {
        Reserve,
        StartDeposit(u16),
        OpenDoor(u16),
        CloseDoor(u16),
        PutParcel(u16),
        TakeParcel(u16),
        /// A recipient types the code of the `n`th reservation.
        EnterCode(usize),
        WrongCode,
        StaffOpen(u16),
        /// A courier does a whole deposit at a compartment.
        CourierDeposits(u16),
        /// A recipient collects the parcel of the `n`th reservation.
        RecipientCollects(usize),
        Run(u64),
        /// The gateway's process stalls, then catches up.
        Jump(u64),
        /// The next exchange suffers this.
        Fault(LineFault),
        /// The next exchange carrying an unlock suffers this.
        UnlockFault(LineFault),
        /// Bytes from nowhere on the line.
        Noise(Vec<u8>),
        Cut(u8),
        Reconnect,
        RestartNode(u8),
        /// The gateway loses power and restarts from its disk.
        RestartGateway,
    }

    fn fault() -> impl Strategy<Value = LineFault> {
        prop_oneof![
            Just(LineFault::LoseRequest),
            Just(LineFault::LoseAnswer),
            Just(LineFault::CorruptAnswer),
            Just(LineFault::CorruptRequest),
            Just(LineFault::DuplicateRequest),
            Just(LineFault::DuplicateAnswer),
            Just(LineFault::NoiseBeforeAnswer),
            Just(LineFault::ForgedAck),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let c = 1..=8u16;
        prop_oneof![
            3 => Just(Op::Reserve),
            3 => c.clone().prop_map(Op::StartDeposit),
            3 => c.clone().prop_map(Op::OpenDoor),
            3 => c.clone().prop_map(Op::CloseDoor),
            2 => c.clone().prop_map(Op::PutParcel),
            2 => c.clone().prop_map(Op::TakeParcel),
            2 => any::<usize>().prop_map(Op::EnterCode),
            1 => Just(Op::WrongCode),
            1 => c.clone().prop_map(Op::StaffOpen),
            3 => c.prop_map(Op::CourierDeposits),
            2 => any::<usize>().prop_map(Op::RecipientCollects),
            4 => (1..5_000u64).prop_map(Op::Run),
            1 => prop_oneof![1..120u64, 3_600..200_000u64].prop_map(Op::Jump),
            4 => fault().prop_map(Op::Fault),
            3 => fault().prop_map(Op::UnlockFault),
            1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Noise),
            1 => (1..=2u8).prop_map(Op::Cut),
            1 => Just(Op::Reconnect),
            1 => (1..=2u8).prop_map(Op::RestartNode),
            1 => Just(Op::RestartGateway),
        ]
    }

    fn apply(bench: &mut Bench, op: &Op) {
        match op {
            Op::Reserve => {
                let _ = bench.reserve_small();
            }
            Op::StartDeposit(c) => {
                let _ = bench.start_deposit(CompartmentId(*c));
            }
            Op::OpenDoor(c) => bench.open_door(CompartmentId(*c)),
            Op::CloseDoor(c) => bench.close_door(CompartmentId(*c)),
            Op::PutParcel(c) => bench.put_parcel(CompartmentId(*c)),
            Op::TakeParcel(c) => bench.take_parcel(CompartmentId(*c)),
            Op::EnterCode(n) => {
                if !bench.codes.is_empty() {
                    let code = bench.codes[n % bench.codes.len()].1.clone();
                    let _ = bench.enter_code(&code);
                }
            }
            Op::WrongCode => {
                let _ = bench.enter_code("000000");
            }
            Op::StaffOpen(c) => {
                bench.drive();
                let now = bench.now;
                let _ = bench.gateway.staff_open(CompartmentId(*c), StaffId(4), now);
                bench.drive();
            }
            Op::CourierDeposits(c) => {
                let c = CompartmentId(*c);
                if bench.start_deposit(c).is_ok() {
                    bench.settle();
                    bench.open_door(c);
                    bench.put_parcel(c);
                    bench.close_door(c);
                }
            }
            Op::RecipientCollects(n) => {
                if !bench.codes.is_empty() {
                    let code = bench.codes[n % bench.codes.len()].1.clone();
                    if let Ok(CodeOutcome::Opening(c)) = bench.enter_code(&code) {
                        bench.settle();
                        bench.open_door(c);
                        bench.take_parcel(c);
                        bench.close_door(c);
                    }
                }
            }
            Op::Run(ms) => bench.run_for(Duration::from_millis(*ms)),
            Op::Jump(s) => bench.jump(Duration::from_secs(*s)),
            Op::Fault(f) => bench.faults.push_back(*f),
            Op::UnlockFault(f) => bench.unlock_faults.push_back(*f),
            Op::Noise(bytes) => {
                let now = bench.now;
                bench.gateway.handle_bytes(bytes, now);
                bench.drive();
            }
            Op::Cut(n) => {
                if !bench.cut.contains(&NodeAddr(*n)) {
                    bench.cut.push(NodeAddr(*n));
                }
            }
            Op::Reconnect => bench.cut.clear(),
            Op::RestartNode(n) => bench.restart_node(NodeAddr(*n), ResetReason::Watchdog),
            Op::RestartGateway => {
                bench.restart_gateway();
                bench.drive();
            }
        }
    }

    /// No lock pulsed more often than the bank commanded an unlock of it;
    /// the audit trail has no gap, even across gateway restarts (a restored
    /// bank replays what its snapshot held, never skips); the outputs drained.
    fn check_safety(bench: &mut Bench) -> Result<(), TestCaseError> {
        let audit = bench.audit();
        let mut unique: Vec<_> = audit.clone();
        unique.sort_by_key(|r| r.seq);
        unique.dedup_by_key(|r| r.seq);
        for c in 1..=8u16 {
            let c = CompartmentId(c);
            let commanded = unique
                .iter()
                .filter(|r| {
                    r.compartment == Some(c)
                        && matches!(r.event, AuditEvent::UnlockCommanded { .. })
                })
                .count();
            let pulses = bench.pulses_of(c);
            prop_assert!(
                pulses <= commanded,
                "{c}: {pulses} pulses for {commanded} unlocks commanded"
            );
        }
        let mut run_starts = bench.restarted_at.clone();
        run_starts.push(usize::MAX);
        let mut last: Option<u64> = None;
        let mut boundary = run_starts.iter();
        let mut next_restart = *boundary.next().unwrap_or(&usize::MAX);
        for (index, output) in bench.log.iter().enumerate() {
            let GatewayOutput::Audit(record) = output else {
                continue;
            };
            let restarted = index >= next_restart;
            while index >= next_restart {
                next_restart = *boundary.next().unwrap_or(&usize::MAX);
            }
            if let Some(last) = last {
                if restarted {
                    prop_assert!(record.seq <= last + 1, "a restart skipped audit records");
                } else {
                    prop_assert_eq!(record.seq, last + 1, "the audit trail has a gap");
                }
            }
            last = Some(record.seq);
        }
        let now = bench.now;
        prop_assert!(
            bench.gateway.poll(now).is_none(),
            "the output stream did not drain"
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Whatever people do at the bank, whatever the line loses, garbles,
        /// duplicates or an attacker forges, and however time jumps: nothing
        /// panics, no lock pulses more often than the bank commanded, every
        /// output stream drains to `None`, and once the line is healed every
        /// command reaches its node.
        #[test]
        fn arbitrary_interleavings_never_panic_never_pulse_a_lock_twice_for_one_unlock_and_always_drain(
            ops in proptest::collection::vec(op(), 1..60),
            with_uplink in any::<bool>(),
        ) {
            let mut bench = Bench::new();
            if with_uplink {
                bench.start_uplink();
            }
            bench.settle();
            for op in &ops {
                apply(&mut bench, op);
                check_safety(&mut bench)?;
            }
            // Liveness: the line is healed, the nodes answer again.
            bench.cut.clear();
            bench.faults.clear();
            bench.unlock_faults.clear();
            bench.run_for(Duration::from_secs(30));
            check_safety(&mut bench)?;
            prop_assert_eq!(bench.gateway.commands_waiting(), 0);
            for node in [NODE_1, NODE_2] {
                prop_assert!(!bench.gateway.link().is_lost(node), "{} still lost", node);
                prop_assert!(bench.gateway.is_greeted(node), "{} never greeted again", node);
            }
            prop_assert_eq!(bench.gateway.stats().refused_node_input, 0);
        }
    }
}

#[test]
fn a_status_scan_lost_on_the_line_is_asked_again_while_the_node_answers() {
    let mut bench = Bench::new();
    bench.settle();
    let scans_before = bench.gateway.stats().status_reports;

    // The node browns out; every transmission of the scan it is asked for
    // afterwards is lost on the line, though the node answers everything else.
    bench.status_faults.extend([LineFault::LoseRequest; 3]);
    bench.restart_node(NODE_1, ResetReason::Brownout);
    bench.run_for(Duration::from_secs(30));

    assert!(
        !bench.gateway.link().is_lost(NODE_1),
        "the node kept answering"
    );
    assert!(bench.gateway.is_greeted(NODE_1));
    let reconciled = bench.gateway.stats().status_reports > scans_before;
    let unreachable = bench
        .log
        .iter()
        .filter(|o| matches!(o, GatewayOutput::Alert(a) if a.kind == AlertKind::NodeUnreachable))
        .count();
    let back = bench
        .audit()
        .iter()
        .filter(|a| a.event == AuditEvent::NodeBack(NODE_1))
        .count();
    assert!(
        reconciled && (unreachable == 0 || back > 0),
        "30 s after the lost scan: node reconciled after its restart: {reconciled}; \
         NodeUnreachable alerts: {unreachable}, NodeBack records: {back}"
    );
}

#[test]
fn an_announced_parcel_gets_its_extra_pickup_time_from_the_bank_once_it_is_deposited() {
    use locker_domain::bank::codes::{CodeHash, PickupCode};
    use locker_proto::uplink::{AnnounceParcel, Credential, Deadlines, HexArray};

    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let code = PickupCode::parse("482915").unwrap();
    let hash = CodeHash::of(&gateway_support::bank_keys(), &code);
    let announce = Downward::AnnounceParcel(AnnounceParcel {
        parcel_ref: "JJD0001".try_into().unwrap(),
        recipient: "resident:12".try_into().unwrap(),
        kind: locker_proto::uplink::ParcelKind::Delivery,
        needs: Needs {
            size: Some(SizeClass::Small),
            ..Needs::default()
        },
        deadlines: Deadlines {
            extra_pickup_ms: Duration::from_hours(12),
        },
        credential: Credential::CodeHash(HexArray(hash.to_bytes())),
    });
    let id = request(&mut bench, 1, announce);
    let (_, response) = answer(&bench, id);
    let Response::ParcelAnnounced { compartment: c, .. } = response else {
        panic!("the parcel was not announced: {response:?}")
    };
    bench.deposit(c);
    assert_eq!(stage(&bench, c), Stage::Stored);
    let reminders = |bench: &Bench| {
        bench
            .log
            .iter()
            .filter(|o| {
                matches!(o, GatewayOutput::Notification(n)
                if n.compartment == c && matches!(n.kind, NotificationKind::Reminder))
            })
            .count()
    };

    // The default reminder is due a day after the deposit; the announced
    // parcel has 12 hours more, and the bank keeps to that.
    bench.jump(Duration::from_hours(25));
    assert_eq!(
        reminders(&bench),
        0,
        "reminded on the day without its extra time"
    );
    assert!(
        bench
            .audit()
            .iter()
            .any(|r| r.compartment == Some(c)
                && matches!(r.event, AuditEvent::DeadlineExtended { .. })),
        "the extension is in the chain of custody"
    );
    bench.jump(Duration::from_hours(12));
    assert_eq!(reminders(&bench), 1, "reminded once its extra time ran out");
}

// ----- what the node says, honoured -------------------------------------------------

/// The unlock reaches the node and its lock clicks, but every answer is lost
/// on a noisy bus. Before, the bank sent the unlock again, met `Busy` (the
/// pulse still running), booked a lock fault, and called the courier's
/// opening a forced door.
#[test]
fn an_unlock_whose_answers_are_lost_on_the_bus_is_neither_a_lock_fault_nor_a_forced_door() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, _) = wiring(c);
    // Every transmission of the unlock arrives; every answer is lost.
    bench.unlock_faults.extend([LineFault::LoseAnswer; 8]);
    bench.start_deposit(c).unwrap();
    bench.run_for(Duration::from_secs(3));
    assert_eq!(bench.pulses_of(c), 1, "the node carried it out once");
    assert_eq!(unlocks_executed(&bench, node), 1);
    // The courier, who heard the click, opens the door, puts the parcel in
    // and closes it.
    bench.open_door(c);
    bench.put_parcel(c);
    bench.close_door(c);
    bench.run_for(Duration::from_secs(30));
    assert_eq!(stage(&bench, c), Stage::Stored);
    let alerts: Vec<AlertKind> = bench
        .log
        .iter()
        .filter_map(|o| match o {
            GatewayOutput::Alert(a) => Some(a.kind),
            _ => None,
        })
        .collect();
    assert!(
        alerts.is_empty(),
        "no alarm for a deposit that worked: {alerts:?}"
    );
}

#[test]
fn a_full_outbound_queue_closes_the_bank_to_new_parcels_until_the_backend_takes_its_backlog() {
    let mut bench = Bench::new();
    bench.start_uplink();
    let limit = locker_domain::uplink::BACKLOG_LIMIT as usize;
    bench.gateway.set_uplink_backlog(limit);
    assert!(bench.gateway.uplink().unwrap().backlog_full());
    assert_eq!(
        bench.reserve_small().unwrap_err(),
        BankError::DepositsClosed(DepositsClosed::Unavailable)
    );
    bench.gateway.set_uplink_backlog(limit - limit / 10);
    assert!(bench.reserve_small().is_ok());
}

// ----- staff settle what the sensors dispute -----------------------------------------

/// A load cell replaced with its parcel still in the books reads
/// "occupied" under the empty compartment. Staff remove the expired parcel,
/// the bank cannot verify it, they look inside and certify the removal at
/// the gateway: the node gets a signed calibrate, takes its reading as
/// empty, and the compartment serves again without a word more.
#[test]
fn a_removal_the_load_cell_disputes_is_certified_at_the_gateway_and_the_node_recalibrated() {
    let mut bench = Bench::new();
    bench.settle();
    let r = bench.reserve_small().unwrap();
    let c = r.compartment;
    let (node, channel) = wiring(c);
    bench.deposit(c);
    for _ in 0..3 {
        bench.jump(Duration::from_hours(25));
    }
    assert_eq!(stage(&bench, c), Stage::Expired);

    let now = bench.now;
    bench.gateway.staff_open(c, StaffId(4), now).unwrap();
    bench.settle();
    bench.open_door(c);
    // The parcel goes; the new cell reads as much as the parcel did.
    bench.close_door(c);
    bench.run_for(Duration::from_secs(5));
    let alerts = |bench: &Bench| {
        bench
            .log
            .iter()
            .filter(|o| matches!(o, GatewayOutput::Alert(_)))
            .count()
    };
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Alert(a) if a.kind == AlertKind::RemovalNotVerified)));
    assert_eq!(stage(&bench, c), Stage::Expired);

    bench.drive();
    let now = bench.now;
    bench.gateway.certify_removal(c, StaffId(7), now).unwrap();
    bench.settle();
    let calibrate = bench
        .commands_to(node)
        .into_iter()
        .find(|s| s.command == Command::Calibrate { channel })
        .expect("the calibrate went out");
    assert!(calibrate.signed, "the calibrate left unsigned");
    assert!(
        bench
            .node(node)
            .executed
            .contains(&Command::Calibrate { channel })
    );
    let view = bench.gateway.bank().view(c).unwrap();
    assert_eq!((view.stage, view.parcel), (Stage::Free, None));
    assert_eq!(view.out_of_service, None);
    assert_eq!(view.occupied, Some(false), "the node reads it empty now");
    let audit = bench.audit_of(c);
    let certified = audit
        .iter()
        .position(|e| *e == AuditEvent::RemovalCertified { staff: StaffId(7) })
        .expect("the certificate is in the chain of custody");
    assert_eq!(
        audit[certified + 1..certified + 4],
        [
            AuditEvent::PickupVerified {
                purpose: Purpose::Removal
            },
            AuditEvent::BackInService,
            AuditEvent::SensorRecalibrated { staff: StaffId(7) },
        ]
    );

    // Scan after scan, nothing more is raised.
    let before = alerts(&bench);
    bench.run_for(Duration::from_mins(40));
    assert_eq!(alerts(&bench), before);
}

#[test]
fn a_load_cell_drifting_under_an_idle_door_is_caught_by_the_periodic_readings_and_recalibrated() {
    let mut bench = Bench::new();
    bench.settle();
    // Compartment 3 stands empty; its load cell creeps to 7 units: above
    // the drift band (4), below the occupied threshold (10), so the node
    // never reports a change by itself.
    let (node, channel) = wiring(CompartmentId(3));
    bench.node(node).load[usize::from(channel.0)] = 7;
    bench.run_for(Duration::from_mins(10));
    let drift_alerts = |bench: &Bench| bench.drift_alerts(CompartmentId(3));
    assert_eq!(drift_alerts(&bench), 0, "nothing shows it yet");
    // Each quarter-hour scan reads four compartments of each node in turn
    // (here, with four on the node, every one at every scan); a compartment
    // whose drift is watched is not read twice.
    bench.run_for(Duration::from_mins(65));
    let reads = bench
        .commands_to(node)
        .into_iter()
        .filter(|s| matches!(s.command, Command::GetStatus { .. }))
        .count();
    assert!(
        (16..=20).contains(&reads),
        "four readings per node per scan ({reads})"
    );
    // Caught, and once the next reading agrees, answered by the bank itself
    // on the empty compartment: a recalibration, no alert (see
    // `drift_stories`).
    bench.run_for(Duration::from_mins(60));
    assert_eq!(drift_alerts(&bench), 0);
    assert!(
        bench
            .audit_of(CompartmentId(3))
            .iter()
            .any(|e| matches!(e, AuditEvent::SensorRecalibratedAutomatically { .. })),
        "the drift is answered once"
    );
}

#[test]
fn rules_the_backend_changes_are_in_force_at_once_and_on_record() {
    use locker_domain::uplink::{policy_to_config, sign_downward};
    use locker_proto::uplink::{Downward, MessageId, PolicyConfig};
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let mut config: PolicyConfig = policy_to_config(bench.gateway.bank().policy());
    config.reminder_after_ms = Duration::from_hours(12);
    config.lockout.free_attempts = 1;
    let message = sign_downward(
        &gateway_support::bank_keys(),
        MessageId::first_of_epoch(9),
        Downward::ChangeConfiguration(config),
    );
    let now = bench.now;
    bench
        .gateway
        .handle_downward(&message, &mut bench.dice, now)
        .unwrap();
    bench.settle();
    let policy = bench.gateway.bank().policy();
    assert_eq!(policy.reminder_after, Duration::from_hours(12));
    assert_eq!(policy.lockout.free_attempts, 1);
    assert!(bench.log.iter().any(|o| matches!(o,
        GatewayOutput::Persist(Persist::Policy(p)) if p.reminder_after == Duration::from_hours(12))));
    assert!(
        bench
            .audit()
            .iter()
            .any(|r| r.event == AuditEvent::PolicyChanged
                && r.actor == locker_domain::bank::Actor::Backend)
    );
    // The keypad's new ramp applies to the very next wrong codes.
    assert!(matches!(
        bench.enter_code("000001"),
        Ok(CodeOutcome::Rejected {
            locked_until: None,
            ..
        })
    ));
    assert!(matches!(
        bench.enter_code("000002"),
        Ok(CodeOutcome::Rejected {
            locked_until: Some(_),
            ..
        })
    ));
}

#[test]
fn the_backend_hears_the_analytics_right_after_each_statistics_report() {
    let mut bench = Bench::new();
    bench.start_uplink();
    bench.settle();
    let c = bench.reserve_small().unwrap().compartment;
    bench.deposit(c);
    bench.settle();
    // The hourly statistics come round.
    bench.run_for(Duration::from_secs(3_700));
    let up = bench.upward();
    let mut reports = 0;
    for (i, m) in up.iter().enumerate() {
        if let Upward::Statistics(s) = &m.body {
            reports += 1;
            let Some(Upward::Analytics(a)) = up.get(i + 1).map(|n| &n.body) else {
                panic!("statistics not followed by analytics: {:?}", up.get(i + 1));
            };
            let deposits: u32 = a.sizes.iter().map(|f| f.deposits).sum();
            assert_eq!(deposits, s.deposits);
            assert_eq!(a.deposits_by_hour.len(), 24);
            assert_eq!(a.dwell.len(), 7);
            // Every size class the bank has is listed, with its doors.
            let doors: u16 = a.sizes.iter().map(|f| f.compartments).sum();
            assert_eq!(doors, s.compartments);
            assert_eq!(a.refused_bank_full, 0);
        }
    }
    assert_eq!(reports, 2, "one after the start, one an hour later");
    let last = up
        .iter()
        .rev()
        .find_map(|m| match &m.body {
            Upward::Analytics(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap();
    let small = last
        .sizes
        .iter()
        .find(|f| f.size == SizeClass::Small)
        .unwrap();
    assert_eq!((small.deposits, small.occupied), (1, 1));
}

/// A camera that answers at once: its outcome is reported while the bank's
/// outputs still wait for the shell's poll. The gateway holds it and
/// records it once they are out, so no shell has to keep it itself.
#[test]
fn a_snapshot_outcome_reported_before_the_outputs_are_out_is_recorded_after_them() {
    let mut bench = Bench::new();
    bench.drive();
    let forced = CompartmentId(3);
    bench.open_door(forced);
    let request = bench
        .log
        .iter()
        .find_map(|o| match o {
            GatewayOutput::Snapshot(r) => Some(*r),
            _ => None,
        })
        .expect("a snapshot of the forced door");
    // A courier reserves a compartment: its records wait for the poll.
    bench
        .gateway
        .reserve(
            locker_domain::bank::ParcelNeeds::size(SizeClass::Small),
            locker_domain::bank::ParcelKind::Delivery,
            &mut bench.dice,
            bench.now,
        )
        .unwrap();
    // The camera's answer comes now: held, not refused.
    bench
        .gateway
        .handle_snapshot_result(
            &request,
            locker_domain::bank::SnapshotOutcome::Failed,
            bench.now,
        )
        .unwrap();
    bench.drive();
    let failed = bench
        .log
        .iter()
        .find_map(|o| match o {
            GatewayOutput::Audit(r) if r.event == AuditEvent::SnapshotFailed => Some(*r),
            _ => None,
        })
        .expect("the missing picture on record");
    assert_eq!(failed.snapshot, Some(request.reference));
    let reserved = bench
        .log
        .iter()
        .position(|o| matches!(o, GatewayOutput::Audit(r) if r.event == AuditEvent::Reserved))
        .unwrap();
    let recorded = bench
        .log
        .iter()
        .position(|o| matches!(o, GatewayOutput::Audit(r) if r.event == AuditEvent::SnapshotFailed))
        .unwrap();
    assert!(reserved < recorded, "after the outputs that waited");
    // A request the bank never gave out is refused at once, nothing held.
    let invented = locker_domain::bank::SnapshotRequest {
        reference: locker_domain::bank::SnapshotRef(request.reference.0 + 100),
        ..request
    };
    assert_eq!(
        bench.gateway.handle_snapshot_result(
            &invented,
            locker_domain::bank::SnapshotOutcome::Taken,
            bench.now
        ),
        Err(BankError::UnknownSnapshot(invented.reference))
    );
    assert!(bench.gateway.is_idle());
}
