//! Random sequences of remote opens (authentic, forged, replayed, reordered),
//! waits, restarts and staff clearing the lock: the bank never opens more
//! doors than the limit within any window, never serves a forgery or a
//! replay, and never panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{
    Actor, AuditEvent, Bank, BankError, ParcelNeeds, Policy, RemoteOpen, RemoteOpenError, StaffId,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{CompartmentId, SizeClass};
use proptest::prelude::*;

const COMPARTMENTS: usize = 16;

#[derive(Clone, Debug)]
enum Op {
    /// An authentic request with the next id.
    Valid(u8),
    /// A request with a made-up tag.
    Forged(u8, u64, [u8; 16]),
    /// One of the accepted requests again.
    Replay(usize),
    /// An authentic request older than the last accepted.
    Older(u8),
    /// An authentic request that skips ahead in ids (allowed).
    SkipAhead(u8, u16),
    Wait(u32),
    StaffClear,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0u8..COMPARTMENTS as u8;
    prop_oneof![
        6 => c.clone().prop_map(Op::Valid),
        2 => (c.clone(), any::<u64>(), any::<[u8; 16]>()).prop_map(|(c, id, t)| Op::Forged(c, id, t)),
        2 => any::<usize>().prop_map(Op::Replay),
        1 => c.clone().prop_map(Op::Older),
        1 => (c, 1u16..1000).prop_map(|(c, k)| Op::SkipAhead(c, k)),
        3 => (0u32..400_000).prop_map(Op::Wait),
        1 => Just(Op::StaffClear),
        1 => Just(Op::Restart),
    ]
}

fn backend_unlocks(sim: &Sim<COMPARTMENTS>) -> usize {
    sim.audit
        .iter()
        .filter(|r| {
            r.actor == Actor::Backend
                && matches!(r.event, AuditEvent::UnlockCommanded { attempt: 0, .. })
        })
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn remote_opens_never_exceed_the_limit_in_any_window_and_forgeries_never_open(
        limit in 0u8..8,
        window_min in 1u64..20,
        parcels in 0usize..6,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let policy = Policy {
            remote_open_limit: limit,
            remote_open_window: Duration::from_mins(window_min),
            ..Policy::default()
        };
        let window = policy.remote_open_window;
        let mut sim = Sim::<COMPARTMENTS>::new(COMPARTMENTS, policy);
        for _ in 0..parcels {
            let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
            sim.deposit(r.compartment);
        }
        let backend = keys();
        let id = |c: u8| CompartmentId(u16::from(c) + 1);
        let mut next_id = 1u64;
        // (when, lock epoch) of every accepted open; staff clearing starts an epoch.
        let mut accepted: Vec<(Instant, u32)> = Vec::new();
        let mut accepted_requests: Vec<RemoteOpen> = Vec::new();
        let mut epoch = 0u32;
        for op in ops {
            sim.now += Duration::from_millis(250);
            let unlocks_before = backend_unlocks(&sim);
            let (request, must_refuse) = match op {
                Op::Valid(c) => {
                    next_id += 1;
                    (Some(RemoteOpen::signed(&backend, sim.bank.incarnation(), id(c), next_id)), false)
                }
                Op::SkipAhead(c, k) => {
                    next_id += u64::from(k);
                    (Some(RemoteOpen::signed(&backend, sim.bank.incarnation(), id(c), next_id)), false)
                }
                Op::Forged(c, request_id, tag) => {
                    (Some(RemoteOpen { incarnation: sim.bank.incarnation(), compartment: id(c), request_id, tag }), true)
                }
                Op::Replay(k) if !accepted_requests.is_empty() => {
                    (Some(accepted_requests[k % accepted_requests.len()]), true)
                }
                Op::Older(c) => match sim.bank.last_remote_request() {
                    Some(last) if last > 0 => {
                        (Some(RemoteOpen::signed(&backend, sim.bank.incarnation(), id(c), last - 1)), true)
                    }
                    _ => (None, false),
                },
                Op::Wait(ms) => {
                    let until = sim.now + Duration::from_millis(u64::from(ms));
                    sim.run_until(until);
                    (None, false)
                }
                Op::StaffClear => {
                    sim.drain();
                    if sim.bank.staff_clear_remote_open_lock(StaffId(1), sim.now).unwrap() {
                        epoch += 1;
                    }
                    (None, false)
                }
                Op::Restart => {
                    sim.drain();
                    let bytes = sim.bank.snapshot_to_vec().unwrap();
                    let locked = sim.bank.remote_opens_locked();
                    let last = sim.bank.last_remote_request();
                    *sim.bank = Bank::restore_on_heap(&mixed_layout(COMPARTMENTS), policy, keys(), &bytes, sim.now,
                    ).unwrap();
                    sim.answer_status_requests();
                    prop_assert_eq!(sim.bank.remote_opens_locked(), locked);
                    prop_assert_eq!(sim.bank.last_remote_request(), last);
                    (None, false)
                }
                Op::Replay(_) => (None, false),
            };
            let Some(request) = request else {
                sim.answer_status_requests();
                continue;
            };
            let stages_before: Vec<_> = sim.bank.views().map(|v| v.stage).collect();
            sim.drain();
            let result = sim.bank.remote_open(&request, sim.now);
            sim.answer_status_requests();
            if must_refuse {
                prop_assert!(
                    matches!(result, Err(BankError::RemoteOpen(_))),
                    "{:?} was not refused: {:?}", request, result
                );
            }
            match result {
                Ok(()) => {
                    accepted.push((sim.now, epoch));
                    accepted_requests.push(request);
                    prop_assert_eq!(backend_unlocks(&sim), unlocks_before + 1);
                    // The person at the door opens and closes it.
                    sim.open_door(request.compartment, true);
                    sim.close_door(request.compartment);
                    sim.timeout();
                }
                Err(e) => {
                    prop_assert_eq!(backend_unlocks(&sim), unlocks_before, "{}", e);
                    let stages: Vec<_> = sim.bank.views().map(|v| v.stage).collect();
                    prop_assert_eq!(stages, stages_before);
                    if let BankError::RemoteOpen(RemoteOpenError::RateLimited { .. }) = e {
                        prop_assert!(sim.bank.remote_opens_locked());
                    }
                }
            }
            // The invariant: within the current lock epoch, no window holds
            // more accepted opens than the limit.
            let in_window = accepted
                .iter()
                .filter(|(t, e)| *e == epoch && sim.now.saturating_since(*t) < window)
                .count();
            prop_assert!(in_window <= usize::from(limit), "{} opens within the window", in_window);
        }
        // Every accepted open was one backend unlock; nothing else unlocked for it.
        prop_assert_eq!(backend_unlocks(&sim), accepted.len());
    }
}
