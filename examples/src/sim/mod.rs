//! The simulated locker bank: the whole system living through days of
//! deliveries and incidents, every layer real, in simulated time.
//!
//! ```text
//!  world (couriers, residents, staff, vandals, mains)      ground truth
//!    │ reserve / keypad / overrides          │ doors, parcels, faults
//!  Bank  ── commands ──▶ Master ── encode ──▶ Bus (noise) ──▶ Decoder ▶ NodeLink ▶ Controller ▶ SimCompartment
//!        ◀── events ──── Master ◀─ Decoder ◀─ Bus (noise) ◀── encode ◀ NodeLink ◀ Controller ◀ (driver traits)
//!  SimUps ▶ power, SimCamera ◀ snapshots, persist ▶ bytes ▶ restore after an outage
//!  Uplink ── upward messages ▶ outbound queue ▶ link ▶ Backend ── acks, requests ▶ Uplink
//! ```
//!
//! The gateway side runs the library's [`locker_domain::gateway::Gateway`]
//! (the bank, the link-layer master and the uplink), its upward messages
//! going through an outbound queue and a link with a small delay to an
//! in-process [`Backend`](crate::uplink::Backend), which acknowledges them
//! and makes requests of its own ([`uplink`]); each node runs a
//! [`locker_proto::frame::Decoder`], a [`locker_proto::link::NodeLink`] and a
//! [`locker_domain::controller::Controller`] over
//! [`locker_drivers::sim::SimCompartment`]s read through the driver traits.
//! Frames cross a [`bus::Bus`] as encoded bytes: half duplex, one talker at
//! a time, with seeded byte corruption, frame loss, late replies and the
//! collisions late replies cause.
//!
//! # The nodes: ours or Kerong boards
//!
//! [`SimConfig::board`] chooses what stands on the bus ([`kerong::NodeSide`]):
//! our node firmware ([`Board::Ours`], the default), or one simulated
//! Kerong KR-CU16 per node ([`Board::KerongCu16`], `--board kerong-cu16`),
//! each behind the library's adapter
//! ([`locker_drivers::kerong::BoardLine`]) exactly as `locker-gateway`
//! drives real boards: the gateway's bytes cross the noisy bus to the
//! adapters, which ask their boards for status in the vendor's frames and
//! answer as our node would, signed with the node's key (the gateway
//! derives it as for our nodes; the adapters' receive reservations are
//! stored as `locker-gateway` stores them). The gateway and the bank
//! cannot tell the difference; the world acts on the boards' compartments.
//!
//! What differs is the hardware. A board reads one contact per door, on
//! the latch, and an IR beam per channel: "occupied" is "holds anything"
//! (`item_grams > 0`), there is no load cell, so **no drifting load cell is
//! injected** for Kerong boards (`drifting_sensor` stays at 0). A board has
//! no firmware and no timers: its adapter sees the world only when the
//! gateway polls it, so the bus is not quiet (see *Time*) while a board has
//! a physical change no poll has seen yet, nor while one of its doors is
//! open or a latch released (the door-ajar limit and a latch catching again
//! are only seen by polling); this makes a Kerong month cost about ten
//! times the wall time of ours. A hung unit is a board gone silent: its
//! adapter raises a node-wide fault after three failed exchanges (the
//! bank's node fault alert, which names the fault, not the node), and the
//! gateway power-cycles the board a minute later, by the rule it has for
//! a node it lost. After a power outage the gateway
//! program starts again with new adapters, which report a restart, so the
//! gateway greets every node and scans its status.
//!
//! # Time
//!
//! Time is simulated and event-driven: the loop jumps to the earliest of
//! the world's agenda, the next frame arrival, every component's
//! `poll_timeout` (the uplink's heartbeats among them) and the hourly
//! occupancy sample. Messages on the backend link (arrivals, resends of the
//! outbound queue and of the backend's requests) are carried between those
//! steps without waking the bus. While anything is under
//! way on the bus (a command, queued node events, a frame on the line) the
//! gateway polls every node every 250 ms as it would for real. When the bus
//! has nothing to carry but idle polls whose answer is known to be empty,
//! those polls are skipped (and counted, `idle polls skipped`) and the
//! gateway sweeps every node every 5 minutes instead. A hung node's polls
//! are not known to be empty (they time out), so they are never skipped:
//! the gateway notices it within seconds, as a real one polling every node
//! does, and cycles its power a minute later
//! ([`GatewayOutput::PowerCycleNode`](locker_domain::gateway::GatewayOutput::PowerCycleNode)).
//!
//! # Determinism
//!
//! Every random choice comes from a ChaCha stream seeded by `--seed` (one
//! stream per bank and purpose), nothing reads a clock, and all iteration
//! is over ordered collections: the same seed prints the same bytes.
//!
//! # Ground truth
//!
//! The world knows where every parcel physically is. "Parcels lost" is
//! computed from that, against the bank's books and alerts
//! ([`check::parcels_lost`]), not read from the bank; [`check::Checker`]
//! holds the invariants of ARCHITECTURE.md after every step.
//!
//! # The backend
//!
//! Every bank's gateway runs its uplink ([`uplink`]): upward messages go
//! into an outbound queue that survives gateway restarts, as the real
//! gateway's disk queue does, and cross a link with a small delay to an
//! in-process [`Backend`](crate::uplink::Backend) that keeps counts only, so
//! a month of ten thousand compartments runs in a few megabytes. The
//! backend acknowledges every message, carries each out once, asks for a
//! camera snapshot after a forced door and takes a compartment with a lock
//! fault out of service. The summary's `uplink` section holds its view
//! against the bank's: at the end of a run whose link was up, every message
//! produced was delivered and acknowledged, and the audit records and
//! verified deposits the backend heard equal the bank's audit trail.
//!
//! # Incidents and who resolved them
//!
//! Each kind of [`IncidentKind`] has a rate ([`IncidentRates`]) and ends
//! either automatically (the courier told at once deposits again, the bank's
//! unlock retry frees a lock that stuck once, the UPS rides out a blip, a
//! long outage ends in persist, shutdown, restore and a reconciling scan, the
//! gateway power-cycles a hung node, the keypad lockout outlasts a guesser,
//! a collector told to shut the door does) or with staff (a daily round at
//! 10:00, and security within the hour after a forced door): forced doors,
//! locks that stay jammed, drifting load cells, doors nobody came back to,
//! expired parcels, dead and stuck load cells (the cell replaced on the
//! round after the bank's alert, see `locker::broken_cell`; every simulated
//! cell reads with noise, `node::LOAD_CELL_NOISE`, as real ones do); and
//! failed fridges, which a
//! refrigeration technician repairs on site 2 to 6 hours after the bank's
//! alert (see `locker::fridge`).
//!
//! # Fridges
//!
//! One medium compartment in five is refrigerated; our nodes read every
//! channel's thermometer once a minute and report it in their status
//! answers, and the simulated fridges hold 4.0 °C. About one parcel in ten
//! of medium size is perishable (it goes to a fridge, runs on the shorter
//! perishable deadlines and leaves a cold-chain audit record). A
//! `fridge_failure` (0.01 a day per 48 compartments by default) stops a
//! fridge's cooling: it warms 1.0 to 2.5 °C an hour. The bank reads every
//! fridge at each quarter-hour scan and alerts once its readings have
//! stayed out of range for longer than 30 minutes, which the scans see 45
//! minutes after the first reading out of range: the detection deadline is
//! an hour after the fridge leaves its 2–8 °C range (up to 15 minutes to
//! that first reading; 1.6 to 4 hours after the failure at these rates),
//! before a resident would find a parcel warm. Kerong boards report no
//! temperature: no fridge failure is injected for them.
//!
//! # Throughput
//!
//! Wall time of `cargo run --release --bin locker-sim -- --quiet …`,
//! median of 3 runs, on the shared 2-core build machine, default noise
//! (level 1) and incident rates, measured in one session interleaved with
//! the build from before the simulator ran the library's gateway, node and
//! uplink (`before`):
//!
//! | run | parcels | wall time | parcels per second | before |
//! |---|---|---|---|---|
//! | `--days 365` (one bank of 48 compartments, a year) | 8,588 | 2.47 s | 3,480 | 2.28 s (1.08×) |
//! | `--compartments 10000 --days 30` (157 banks of 63–64) | 150,754 | 47.1 s | 3,200 | 51.9 s (0.91×) |
//!
//! The uplink (every upward message projected, queued, carried,
//! acknowledged and counted) and the gateway's greetings cost about a tenth
//! on the year of one bank; noting each node's next timer when it changes,
//! instead of asking every node at every step, won back more than that on
//! the big site. Peak memory stays at about 6 MB for the 10,000-compartment
//! month (banks run one after another, and the backend keeps counts, not
//! messages). With `--board kerong-cu16` a month is about ten times slower:
//! a Kerong board is seen only when polled, so the bus is not skipped ahead
//! while a board has a change not yet polled.
//!
//! Every interaction runs the full protocol; only idle polls whose answer
//! is known to be empty are skipped (see *Time*), the bank's books are
//! persisted after every change, and every upward message crosses the
//! uplink, as a gateway would do it.
//!
//! # Example
//!
//! ```
//! use locker_examples::sim::{run, SimConfig};
//!
//! let config = SimConfig { days: 1, compartments: 16, check_invariants: true, ..SimConfig::default() };
//! let outcome = run(&config, &mut |_| {}).unwrap();
//! assert_eq!(outcome.summary.parcels.lost, 0);
//! assert_eq!(outcome.summary.invariants.violations, 0);
//! ```

pub mod bus;
pub mod check;
pub mod incidents;
pub mod kerong;
pub mod locker;
pub mod node;
pub mod oracle;
pub mod report;
pub mod rng;
pub mod traffic;
pub mod uplink;
pub mod world;

pub use bus::Noise;
pub use incidents::{IncidentKind, IncidentRates};
pub use kerong::Board;
pub use locker::SimBank;
pub use report::{Line, Summary};

use locker_domain::bank::{Analytics, DWELL_BOUNDS_HOURS, Refusal, SIZE_CLASSES, Stats, WEEKDAYS};
use locker_proto::time::Instant;

use check::Checker;
use report::{
    AnalyticsSummary, AuditTally, BusSummary, DwellRow, IncidentRow, InteractionSummary,
    InvariantSummary, ParcelSummary, PowerSummary, RefusalSummary, SizeRow, UplinkSummary,
    UtilisationSummary, WeekdayRow, WorldCounts,
};
use world::Whereabouts;

/// The layout version of [`Summary`] and its JSON (`"schema"`).
pub const SUMMARY_SCHEMA: &str = "locker-sim/3";

/// Households per compartment when `--units` is not given (300 for 48).
pub const UNITS_PER_COMPARTMENT: f64 = 300.0 / 48.0;

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// Simulated days.
    pub days: u32,
    /// Compartments in the site (banks of at most [`locker::BANK_CAPACITY`]).
    pub compartments: usize,
    /// Households served; `None` scales with the compartments.
    pub units: Option<u32>,
    /// The noise level (see [`Noise::level`]).
    pub noise_level: u8,
    /// The bus noise.
    pub noise: Noise,
    /// Incident rates.
    pub rates: IncidentRates,
    /// Check every invariant after every step (slower).
    pub check_invariants: bool,
    /// What stands on the bus as the bank's nodes.
    pub board: Board,
}

impl Default for SimConfig {
    /// Seed 1, a week, one bank of 48 compartments for 300 units, a little
    /// noise, the default incident rates, no per-step checks.
    fn default() -> Self {
        SimConfig {
            seed: 1,
            days: 7,
            compartments: 48,
            units: None,
            noise_level: 1,
            noise: Noise::level(1),
            rates: IncidentRates::default(),
            check_invariants: false,
            board: Board::Ours,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The summary.
    pub summary: Summary,
    /// Notable events in time order.
    pub timeline: Vec<Line>,
    /// Occupied compartments at each hour, over the site; `None` for an
    /// hour some bank's gateway was off (not sampled).
    pub occupancy: Vec<Option<u32>>,
    /// When each incident started, and its kind, over the site.
    pub incidents: Vec<(Instant, IncidentKind)>,
}

impl Outcome {
    /// The timeline, one line per event.
    pub fn timeline_text(&self) -> String {
        let banks = self.summary.banks as usize;
        let mut out = String::new();
        for line in &self.timeline {
            out.push_str(&line.render(banks));
            out.push('\n');
        }
        out
    }

    /// Occupancy over time as SVG.
    pub fn svg(&self) -> String {
        report::occupancy_svg(&self.occupancy, self.summary.compartments, &self.incidents)
    }

    /// Parcels that went through the simulation (arrived at a bank).
    pub fn parcels(&self) -> u64 {
        self.summary.parcels.arrived
    }
}

/// How `compartments` split into banks: as few as possible, sizes even.
pub fn bank_sizes(compartments: usize) -> Vec<usize> {
    let compartments = compartments.max(1);
    let banks = compartments.div_ceil(locker::BANK_CAPACITY);
    (0..banks)
        .map(|b| compartments / banks + usize::from(b < compartments % banks))
        .collect()
}

/// Runs the simulation; `progress` hears the share done (0 to 1) now and then.
///
/// # Errors
///
/// A message if a bank could not be assembled (a bug, not a user error).
pub fn run(config: &SimConfig, progress: &mut dyn FnMut(f64)) -> Result<Outcome, String> {
    let sizes = bank_sizes(config.compartments);
    let total: usize = sizes.iter().sum();
    let units = config
        .units
        .unwrap_or((total as f64 * UNITS_PER_COMPARTMENT).round() as u32);
    let mut timeline = Vec::new();
    let mut occupancy: Vec<Option<u32>> = Vec::new();
    let mut marks: Vec<(Instant, IncidentKind)> = Vec::new();
    let mut by_size = [0u64; SIZE_CLASSES];
    let mut size_occupied = [0f64; SIZE_CLASSES];
    let mut world = WorldCounts::default();
    let mut audit = AuditTally::default();
    let mut incidents = incidents::IncidentLog::default();
    let mut false_alarms = oracle::FalseAlarms::default();
    let mut checker = Checker::default();
    let mut bus = BusSummary::default();
    let mut parcels = ParcelSummary::default();
    let mut uplink = UplinkSummary::default();
    let mut stats = Vec::new();
    let mut staff_parcels = 0u64;
    let steps = (sizes.len() as u64 * u64::from(config.days)).max(1);
    let mut done = 0u64;
    for (index, size) in sizes.iter().enumerate() {
        let bank_units = (u64::from(units) * *size as u64 / total as u64) as u32;
        let mut sim = SimBank::new(index, *size, bank_units, config)?;
        for day in 1..=config.days {
            let end = Instant::from_millis(u64::from(day) * 86_400_000 - 1);
            if config.check_invariants {
                sim.run_until(end, &mut |s| checker.check(s));
            } else {
                sim.run_until(end, &mut |_| {});
            }
            done += 1;
            progress(done as f64 / steps as f64);
        }
        timeline.append(&mut sim.timeline);
        // The site's figure for an hour is known only if every bank's is.
        for (i, v) in sim.occupancy.iter().enumerate() {
            match occupancy.get_mut(i) {
                Some(o) => *o = o.zip(*v).map(|(a, b)| a + b),
                None => occupancy.push(*v),
            }
        }
        marks.extend_from_slice(&sim.incident_marks);
        let samples = sim.samples.max(1) as f64;
        for ((doors, mean), (n, occupied)) in by_size
            .iter_mut()
            .zip(size_occupied.iter_mut())
            .zip(sim.compartments_by_size().iter().zip(&sim.size_occupied))
        {
            *doors += n;
            *mean += *occupied as f64 / samples;
        }
        world.absorb(&sim.world);
        audit.absorb(&sim.audit);
        incidents.absorb(&sim.incidents);
        false_alarms.absorb(&sim.false_alarms);
        let link = sim.link_stats();
        let line = sim.line_stats();
        bus.frames_sent += u64::from(link.frames_sent);
        bus.retransmissions += u64::from(link.retransmissions);
        bus.timeouts += u64::from(link.timeouts);
        bus.events_delivered += u64::from(link.events_delivered);
        bus.duplicates_filtered += u64::from(link.duplicates_filtered);
        bus.nodes_lost += u64::from(link.nodes_lost);
        bus.nodes_recovered += u64::from(link.nodes_recovered);
        bus.frames_on_wire += line.frames;
        bus.bytes_on_wire += line.bytes;
        bus.frames_corrupted += line.frames_corrupted;
        bus.frames_lost += line.frames_lost;
        bus.collisions += line.collisions;
        bus.crc_errors += sim.bad_frames();
        bus.idle_polls_skipped += sim.elided_polls;
        bus.resynchronisations += u64::from(link.resynchronisations);
        bus.auth_rejected += u64::from(link.auth_rejected);
        parcels.lost += check::parcels_lost(&sim);
        parcels.still_inside += sim.inside.iter().filter(|p| p.is_some()).count() as u64;
        parcels.removed_by_staff += sim
            .parcels
            .iter()
            .filter(|p| p.at == Whereabouts::WithStaff)
            .count() as u64;
        staff_parcels += sim.parcels.iter().filter(|p| p.needed_staff).count() as u64;
        uplink.absorb(&sim.backend_link().summary());
        stats.push(sim.stats());
    }
    // Banks ran one after another; the site's timeline reads in time order.
    timeline.sort_by_key(|l: &Line| (l.at, l.bank));
    let sum = |f: &dyn Fn(&locker_domain::bank::Stats) -> u64| stats.iter().map(f).sum::<u64>();
    bus.commands_refused = world.commands_refused;
    parcels.arrived = world.arrived;
    parcels.deposited = world.deposited;
    parcels.picked_up = world.picked_up;
    parcels.reminded = sum(&|s| u64::from(s.reminders));
    parcels.escalated = sum(&|s| u64::from(s.escalations));
    parcels.expired = sum(&|s| u64::from(s.expiries));
    parcels.to_counter = world.to_counter.clone();
    parcels.stolen_with_alert = world.stolen;
    let pickups = sum(&|s| u64::from(s.pickups));
    let dwell = sum(&|s| s.dwell_total_ms);
    // Every bank ran to the end of the last day.
    let run_end = Instant::from_millis(u64::from(config.days) * 86_400_000 - 1);
    let incident_rows: Vec<IncidentRow> = IncidentKind::ALL
        .iter()
        .map(|k| {
            let tally = incidents.tally(*k);
            let (open_undetected, open_latent, open_overdue) =
                incidents.undetected_open(*k, run_end);
            IncidentRow {
                kind: k.name(),
                tally,
                open: tally.open(),
                open_undetected,
                open_latent,
                open_overdue,
                deadline_s: k.detection_deadline().map(|d| d.as_millis() / 1_000),
            }
        })
        .collect();
    let occurred: u64 = incident_rows.iter().map(|r| r.tally.occurred).sum();
    let without_visit: u64 = incident_rows
        .iter()
        .map(|r| r.tally.resolved_without_site_visit)
        .sum();
    let total_interactions = world.interactions + occurred;
    let needed_staff = world.staff_jobs + staff_parcels;
    marks.sort_by_key(|(at, kind)| (*at, kind.index()));
    let sampled: Vec<u32> = occupancy.iter().flatten().copied().collect();
    let hours = sampled.len().max(1) as f64;
    let analytics = analytics_summary(&stats, &by_size, &size_occupied);
    let summary = Summary {
        schema: SUMMARY_SCHEMA,
        without_site_visit_percent: if occurred == 0 {
            100.0
        } else {
            100.0 * without_visit as f64 / occurred as f64
        },
        false_alarms,
        seed: config.seed,
        days: config.days,
        compartments: total as u64,
        banks: sizes.len() as u64,
        units: u64::from(units),
        noise: noise_words(config),
        board: config.board,
        parcels,
        incidents: incident_rows,
        interactions: InteractionSummary {
            total: total_interactions,
            needed_staff,
            without_staff_percent: if total_interactions == 0 {
                100.0
            } else {
                100.0 * (1.0 - needed_staff as f64 / total_interactions as f64)
            },
        },
        utilisation: UtilisationSummary {
            mean_occupancy_percent: 100.0 * sampled.iter().map(|v| f64::from(*v)).sum::<f64>()
                / hours
                / total.max(1) as f64,
            peak_occupied: sampled.iter().copied().max().unwrap_or(0).into(),
            mean_dwell_hours: if pickups == 0 {
                0.0
            } else {
                dwell as f64 / pickups as f64 / 3_600_000.0
            },
        },
        analytics,
        bus,
        alerts: world.alerts.clone(),
        audit,
        power: PowerSummary {
            shutdowns: world.shutdowns,
            restores: world.restores,
            restore_failures: world.restore_failures,
            persists: world.persists,
        },
        uplink,
        invariants: InvariantSummary {
            steps_checked: checker.steps,
            violations: checker.violations,
            first: checker.first,
        },
    };
    Ok(Outcome {
        summary,
        timeline,
        occupancy,
        incidents: marks,
    })
}

/// The banks' analytics summed over the site; `compartments` and
/// `mean_occupied` are per size class (`bank::SIZES` order), the latter
/// the mean number of compartments of the class holding a parcel.
fn analytics_summary(
    stats: &[Stats],
    compartments: &[u64; SIZE_CLASSES],
    mean_occupied: &[f64; SIZE_CLASSES],
) -> AnalyticsSummary {
    fn add<const N: usize>(stats: &[Stats], f: impl Fn(&Analytics) -> &[u32; N]) -> Vec<u64> {
        let mut sum = vec![0u64; N];
        for s in stats {
            for (to, from) in sum.iter_mut().zip(f(&s.analytics)) {
                *to += u64::from(*from);
            }
        }
        sum
    }
    fn peak(by: &[u64]) -> Option<usize> {
        let top = by.iter().copied().max().filter(|m| *m > 0)?;
        by.iter().position(|v| *v == top)
    }
    let deposits_by_hour = add(stats, |a| &a.deposits_by_hour);
    let pickups_by_hour = add(stats, |a| &a.pickups_by_hour);
    let deposits_by_weekday = add(stats, |a| &a.deposits_by_weekday);
    let pickups_by_weekday = add(stats, |a| &a.pickups_by_weekday);
    let dwell = add(stats, |a| &a.dwell);
    let deposits_by_size = add(stats, |a| &a.deposits_by_size);
    let refusals = add(stats, |a| &a.refusals);
    let pickups: u64 = dwell.iter().sum();
    const WEEKDAY_NAMES: [&str; WEEKDAYS] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    const SIZE_NAMES: [&str; SIZE_CLASSES] = ["small", "medium", "large", "extra_large"];
    let bounds = |k: usize| {
        let from = if k == 0 {
            0
        } else {
            DWELL_BOUNDS_HOURS.get(k - 1).copied().unwrap_or(0)
        };
        (from, DWELL_BOUNDS_HOURS.get(k).copied())
    };
    let refused = |r: Refusal| refusals.get(r.index()).copied().unwrap_or(0);
    AnalyticsSummary {
        peak_deposit_hour: peak(&deposits_by_hour),
        peak_pickup_hour: peak(&pickups_by_hour),
        weekdays: WEEKDAY_NAMES
            .iter()
            .zip(deposits_by_weekday.iter().zip(&pickups_by_weekday))
            .map(|(name, (d, p))| WeekdayRow {
                weekday: name,
                deposits: *d,
                pickups: *p,
            })
            .collect(),
        dwell: dwell
            .iter()
            .enumerate()
            .map(|(k, n)| {
                let (from_hours, to_hours) = bounds(k);
                DwellRow {
                    from_hours,
                    to_hours,
                    pickups: *n,
                    percent: if pickups == 0 {
                        0.0
                    } else {
                        100.0 * *n as f64 / pickups as f64
                    },
                }
            })
            .collect(),
        sizes: SIZE_NAMES
            .iter()
            .enumerate()
            .filter(|(k, _)| compartments.get(*k).is_some_and(|n| *n > 0))
            .map(|(k, name)| {
                let doors = compartments.get(k).copied().unwrap_or(0);
                SizeRow {
                    size: name,
                    compartments: doors,
                    deposits: deposits_by_size.get(k).copied().unwrap_or(0),
                    mean_occupied_percent: 100.0 * mean_occupied.get(k).copied().unwrap_or(0.0)
                        / doors.max(1) as f64,
                }
            })
            .collect(),
        refusals: RefusalSummary {
            oversize: refused(Refusal::Oversize),
            bank_full: refused(Refusal::BankFull),
            unavailable: refused(Refusal::Unavailable),
        },
        unclocked_deposits: stats
            .iter()
            .map(|s| u64::from(s.analytics.unclocked_deposits(s)))
            .sum(),
        deposits_by_hour,
        pickups_by_hour,
    }
}

fn noise_words(config: &SimConfig) -> String {
    let n = config.noise;
    format!(
        "level {} ({:.1} % bytes corrupted, {:.1} % frames lost, {:.2} % late replies)",
        config.noise_level,
        n.corrupt_per_byte * 100.0,
        n.frame_loss * 100.0,
        n.late_reply * 100.0
    )
}
