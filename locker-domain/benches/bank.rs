//! Allocation, report handling and `poll_timeout` at 32 and 10,000 compartments;
//! an audit record's chain link.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use locker_domain::bank::{Bank, BankId, BankKeys, Compartment, ParcelKind, ParcelNeeds, Policy};
use locker_proto::time::{Duration, Instant};
use locker_proto::{Channel, CompartmentId, Dimensions, Event, NodeAddr, Presence, SizeClass};

struct Dice(u64);
impl rand_core::RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.next_u64() as u8;
        }
    }
}

/// A bus addresses at most 247 nodes of 32 channels: 7,904 compartments, so
/// the 10,000-capacity bank is filled to what one bus can wire.
fn count(n: usize) -> usize {
    n.min(247 * 32)
}

fn layout(n: usize) -> Vec<Compartment> {
    (0..count(n))
        .map(|k| {
            let (size, d) = match k % 10 {
                0..=4 => (SizeClass::Small, Dimensions::new(420, 80, 600)),
                5..=7 => (SizeClass::Medium, Dimensions::new(420, 190, 600)),
                _ => (SizeClass::Large, Dimensions::new(420, 390, 600)),
            };
            Compartment::new(
                CompartmentId(k as u16 + 1),
                NodeAddr((k / 32) as u8 + 1),
                Channel((k % 32) as u8),
                size,
                d,
            )
        })
        .collect()
}

/// A bank with every other compartment holding a parcel (so timers are busy).
fn half_full(n: usize) -> Bank<'static> {
    let mut bank = Bank::on_heap(
        &layout(n),
        Policy::default(),
        BankKeys::derive(BankId(1), &[1; 32]),
    )
    .unwrap();
    let mut dice = Dice(7);
    let mut now = Instant::from_secs(1);
    drain(&mut bank);
    for _ in 0..count(n) / 2 {
        now += Duration::from_millis(10);
        let Ok(r) = bank.reserve(
            ParcelNeeds::size(SizeClass::Small),
            ParcelKind::Delivery,
            &mut dice,
            now,
        ) else {
            break;
        };
        drain(&mut bank);
        let _ = r;
    }
    bank
}

fn drain(bank: &mut Bank<'_>) {
    while bank.poll().is_some() {}
}

fn run(c: &mut Criterion, n: usize) {
    let mut group = c.benchmark_group("bank");
    let mut bank = half_full(n);
    let mut dice = Dice(11);
    let mut now = Instant::from_secs(100_000);
    group.bench_function(BenchmarkId::new("allocation (reserve + cancel)", n), |b| {
        b.iter(|| {
            now += Duration::from_millis(1);
            let r = bank
                .reserve(
                    ParcelNeeds::size(SizeClass::Medium),
                    ParcelKind::Delivery,
                    &mut dice,
                    now,
                )
                .unwrap();
            drain(&mut bank);
            bank.cancel_reservation(r.compartment, locker_domain::bank::Actor::Backend, now)
                .unwrap();
            drain(&mut bank);
            black_box(r)
        })
    });
    // Report handling: a presence flicker on a free compartment's sensor
    // (the last compartment: the worst case of the binary search).
    let last = layout(n)[count(n) - 1];
    let mut occupied = false;
    group.bench_function(
        BenchmarkId::new("report handling (presence event)", n),
        |b| {
            b.iter(|| {
                now += Duration::from_millis(1);
                occupied = !occupied;
                let presence = if occupied {
                    Presence::occupied(300, 10)
                } else {
                    Presence::empty(0, 10)
                };
                let ev = Event::PresenceChanged {
                    channel: last.channel,
                    presence,
                };
                bank.handle_node_event(last.node, &ev, now).unwrap();
                drain(&mut bank);
            })
        },
    );
    group.bench_function(BenchmarkId::new("poll_timeout", n), |b| {
        b.iter(|| black_box(bank.poll_timeout()))
    });
    group.finish();
}

/// One audit record's link (SHA-256 over the previous link and the record):
/// a door opening with wall time, compartment, parcel and camera reference.
fn audit_link(c: &mut Criterion) {
    use locker_domain::bank::{
        Actor, AuditEvent, AuditLink, AuditRecord, ParcelId, Purpose, SnapshotRef,
    };
    let wall = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
        .and_then(|d| d.and_hms_milli_opt(9, 41, 7, 250));
    let record = AuditRecord {
        seq: 1_234_567,
        at: Instant::from_millis(86_400_123),
        wall,
        actor: Actor::Recipient,
        compartment: Some(CompartmentId(17)),
        parcel: Some(ParcelId(40_321)),
        event: AuditEvent::UnlockCommanded {
            purpose: Purpose::Pickup,
            attempt: 0,
        },
        snapshot: Some(SnapshotRef(812)),
        link: AuditLink::GENESIS,
    };
    let previous = AuditLink([0xa5; 32]);
    c.bench_function("audit link (one record)", |b| {
        b.iter(|| black_box(black_box(&previous).then(black_box(&record))))
    });
}

fn benches(c: &mut Criterion) {
    run(c, 32);
    run(c, 10_000);
    audit_link(c);
}

criterion_group!(bank, benches);
criterion_main!(bank);
