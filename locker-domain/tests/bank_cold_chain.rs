//! Refrigerated compartments and perishable parcels: a fridge that fails,
//! a door held open for a deposit, a sensor that goes quiet or talks
//! nonsense, the cold chain of a parcel from deposit to pickup, and the
//! perishables' shorter deadlines.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::{
    AlertKind, AuditEvent, CompartmentFlags, Evidence, NotificationKind, ParcelNeeds, Policy,
    Purpose, Stage,
};
use locker_proto::time::{Duration, Instant};
use locker_proto::{
    ChannelStatus, Command, CompartmentId, DoorState, LockState, Presence, SizeClass, Temperature,
};

/// 32 compartments on two nodes; 16 and 32 are the refrigerated ones.
fn bank() -> Sim<32> {
    Sim::<32>::new(32, Policy::default())
}

const FRIDGE: CompartmentId = CompartmentId(16);

/// A medium parcel of food: it must go into a fridge.
const PERISHABLE: ParcelNeeds = ParcelNeeds {
    perishable: true,
    ..ParcelNeeds::size(SizeClass::Medium)
};

fn deg(deci: i16) -> Temperature {
    Temperature::from_deci_celsius(deci)
}

/// The node answers a status request for `id` with the compartment as it
/// physically is and the temperature `t` (tenths of a degree).
fn reading(sim: &mut Sim<32>, id: CompartmentId, t: Option<i16>) {
    sim.drain();
    let (node, channel) = sim.wiring(id);
    let k = sim.bank.layout().slot_of(id).unwrap().get();
    let p = sim.physical[k];
    let status = ChannelStatus {
        channel,
        door: if p.door_open {
            DoorState::Open
        } else {
            DoorState::Closed
        },
        lock: if p.door_open {
            LockState::Unlocked
        } else {
            LockState::Locked
        },
        presence: if p.occupied {
            Presence::occupied(300, 10)
        } else {
            Presence::empty(1, 10)
        },
        fault: None,
        temperature: t.map(deg),
    };
    sim.bank
        .handle_channel_status(node, &status, sim.now)
        .unwrap();
    sim.drain();
}

/// `minutes` later, the fridge reads `t`.
fn later(sim: &mut Sim<32>, minutes: u64, t: i16) {
    let until = sim.now + Duration::from_mins(minutes);
    sim.run_until(until);
    reading(sim, FRIDGE, Some(t));
}

fn cold_alerts(sim: &Sim<32>) -> Vec<(AlertKind, Evidence)> {
    sim.alerts
        .iter()
        .filter(|a| {
            matches!(
                a.kind,
                AlertKind::TemperatureOutOfRange | AlertKind::TemperatureSensorSilent
            )
        })
        .map(|a| (a.kind, a.evidence))
        .collect()
}

#[test]
fn the_bank_reads_every_fridge_at_every_scan() {
    let mut sim = bank();
    sim.commands.clear();
    let start = sim.now;
    sim.run_until(start + Duration::from_mins(31));
    for fridge in [CompartmentId(16), CompartmentId(32)] {
        let (node, channel) = sim.wiring(fridge);
        let asked = sim
            .commands
            .iter()
            .filter(|c| **c == (node, Command::GetStatus { channel }))
            .count();
        assert!(asked >= 2, "{fridge:?} read at both scans, {asked} times");
    }
}

#[test]
fn a_fridge_that_fails_raises_one_alert_with_the_reading_and_how_long() {
    let mut sim = bank();
    reading(&mut sim, FRIDGE, Some(40));
    // The compressor stops: the fridge warms scan by scan.
    let failed = sim.now;
    for t in [65, 85, 102, 118, 131, 140, 144, 146, 147] {
        later(&mut sim, 15, t);
    }
    let alerts = cold_alerts(&sim);
    assert_eq!(alerts.len(), 1, "one alert, not one per scan: {alerts:?}");
    let (kind, evidence) = alerts[0];
    assert_eq!(kind, AlertKind::TemperatureOutOfRange);
    let Evidence::Temperature {
        reading,
        limit,
        out_for,
    } = evidence
    else {
        panic!("temperature evidence, not {evidence:?}");
    };
    // First out of range at 8.5 °C (30 min after the failure), alerted at
    // the first reading 30 min later.
    assert_eq!((reading, limit), (deg(118), deg(80)));
    assert_eq!(out_for, Duration::from_mins(30));
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::TemperatureOutOfRange)
        .unwrap();
    assert_eq!(alert.compartment, Some(FRIDGE));
    assert!(alert.at - failed <= Duration::from_mins(75));
    assert!(sim.audit.iter().any(|r| r.compartment == Some(FRIDGE)
        && r.event == AuditEvent::FaultReported(locker_proto::FaultCode::TemperatureOutOfRange)));
    // A warm fridge takes no perishable parcel.
    sim.drain();
    let refused = sim.bank.reserve(
        ParcelNeeds {
            perishable: true,
            ..ParcelNeeds::size(SizeClass::Medium)
        },
        locker_domain::bank::ParcelKind::Delivery,
        &mut sim.dice,
        sim.now,
    );
    assert!(
        !refused.is_ok_and(|r| r.compartment == FRIDGE),
        "the warm fridge is not given out"
    );
    sim.drain();
    // The technician repairs it: back in range, audited with how long and
    // how warm it got; the watch re-arms.
    later(&mut sim, 60, 50);
    let restored: Vec<_> = sim
        .audit
        .iter()
        .filter_map(|r| match r.event {
            AuditEvent::TemperatureRestored { out_for, worst } => Some((out_for, worst)),
            _ => None,
        })
        .collect();
    assert_eq!(
        restored,
        [(Duration::from_mins(15 * 9 + 60 - 30), deg(147))]
    );
    later(&mut sim, 15, 95);
    later(&mut sim, 15, 99);
    later(&mut sim, 15, 97);
    assert_eq!(
        cold_alerts(&sim).len(),
        2,
        "a second failure, a second alert"
    );
}

/// The fridge holds a perishable parcel when its compressor stops: with
/// the alert, the parcel's collector is told of an incident (before they
/// eat it), and its cold chain says how long it was warm. A failing fridge
/// with nothing perishable inside tells no collector.
#[test]
fn a_fridge_that_fails_with_food_inside_tells_its_collector() {
    let mut sim = bank();
    let r = sim.reserve(PERISHABLE);
    let fridge = r.compartment;
    sim.deposit(fridge);
    let other = if fridge == FRIDGE {
        CompartmentId(32)
    } else {
        FRIDGE
    };
    reading(&mut sim, fridge, Some(40));
    reading(&mut sim, other, Some(40));
    for t in [65, 85, 102, 118, 131, 140] {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, fridge, Some(t));
        reading(&mut sim, other, Some(t));
    }
    assert_eq!(cold_alerts(&sim).len(), 2, "both fridges failed");
    let incidents: Vec<_> = sim
        .notes
        .iter()
        .filter(|n| n.kind == NotificationKind::ParcelIncident)
        .collect();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0].compartment, fridge);
    assert_eq!(incidents[0].parcel, Some(r.parcel));
    assert_eq!(incidents[0].to, locker_domain::bank::Actor::Recipient);
}

/// A freezer beside the fridges, held to its own limits (−25 to −15 °C):
/// a fridge's 4 °C is a failure there, and its −18 °C is no alarm, while
/// the fridges keep the policy's 2 to 8 °C.
#[test]
fn a_freezer_is_held_to_its_own_limits_and_the_fridges_to_the_policys() {
    use locker_domain::bank::TemperatureRange;
    const FREEZER: CompartmentId = CompartmentId(32);
    let limits = TemperatureRange::deci_celsius(-250, -150);
    let layout: Vec<_> = mixed_layout(32)
        .into_iter()
        .map(|c| {
            if c.id == FREEZER {
                c.with_temperature_limits(limits)
            } else {
                c
            }
        })
        .collect();
    let mut sim = Sim::<32>::with_layout(&layout, Policy::default());
    for _ in 0..5 {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, FREEZER, Some(-180));
        reading(&mut sim, FRIDGE, Some(40));
    }
    assert_eq!(cold_alerts(&sim), [], "each at home in its own range");
    for _ in 0..4 {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, FREEZER, Some(40));
        reading(&mut sim, FRIDGE, Some(40));
    }
    let alerts = sim
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::TemperatureOutOfRange)
        .map(|a| (a.compartment, a.evidence))
        .collect::<Vec<_>>();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].0, Some(FREEZER));
    assert!(matches!(
        alerts[0].1,
        Evidence::Temperature { reading, limit, .. } if reading == deg(40) && limit == deg(-150)
    ));
}

/// A layout giving a compartment its limits upside down is refused, naming
/// the compartment, before any bank exists.
#[test]
fn temperature_limits_given_upside_down_are_refused_with_the_compartment() {
    use locker_domain::bank::{Bank, LayoutError, TemperatureRange};
    let mut layout = mixed_layout(32);
    layout[31] = layout[31].with_temperature_limits(TemperatureRange::deci_celsius(-150, -250));
    let refused = Bank::on_heap(&layout, Policy::default(), keys()).err();
    assert_eq!(
        refused,
        Some(LayoutError::BadTemperatureLimits {
            id: CompartmentId(32),
            min: deg(-150),
            max: deg(-250),
        })
    );
}

#[test]
fn a_door_opened_for_a_deposit_does_not_alarm() {
    let mut sim = bank();
    let r = sim.reserve(PERISHABLE);
    reading(&mut sim, r.compartment, Some(40));
    assert!(
        sim.bank.layout().compartments()[sim.bank.layout().slot_of(r.compartment).unwrap().get()]
            .flags
            .contains(CompartmentFlags::REFRIGERATED)
    );
    let fridge = r.compartment;
    // The courier takes his time at the open door: warm air rushes in.
    sim.drain();
    let code = sim.bank.deposit_code(fridge).unwrap().to_string();
    sim.bank
        .enter_deposit_code(
            locker_domain::bank::codes::KeypadId(1),
            fridge,
            &code,
            sim.now,
        )
        .unwrap();
    sim.answer_status_requests();
    sim.open_door(fridge, true);
    sim.advance(Duration::from_mins(1));
    reading(&mut sim, fridge, Some(120));
    sim.put_parcel(fridge);
    sim.close_door(fridge);
    // It cools down again within the grace.
    for t in [110, 75, 45] {
        sim.advance(Duration::from_mins(8));
        reading(&mut sim, fridge, Some(t));
    }
    sim.run_until(sim.now + Duration::from_hours(1));
    reading(&mut sim, fridge, Some(42));
    assert_eq!(cold_alerts(&sim), []);
    assert_eq!(sim.bank.view(fridge).unwrap().stage, Stage::Stored);
}

#[test]
fn a_silent_sensor_alerts_once_with_its_last_reading() {
    let mut sim = bank();
    reading(&mut sim, FRIDGE, Some(41));
    let heard = sim.now;
    // The sensor's wire breaks: the node answers every scan, without a
    // temperature.
    for _ in 0..10 {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, FRIDGE, None);
    }
    let alerts = cold_alerts(&sim);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (kind, evidence) = alerts[0];
    assert_eq!(kind, AlertKind::TemperatureSensorSilent);
    let Evidence::TemperatureSilent { last, silent_for } = evidence else {
        panic!("silence evidence, not {evidence:?}");
    };
    assert_eq!(last, Some(deg(41)));
    assert_eq!(silent_for, Duration::from_mins(90));
    let alert = &sim.alerts[sim.alerts.len() - 1];
    assert!(alert.at - heard <= Duration::from_mins(90));
    // The other fridge never reported a temperature (a board without a
    // thermometer): it is not alerted.
    reading(&mut sim, CompartmentId(32), None);
    sim.advance(Duration::from_hours(2));
    reading(&mut sim, CompartmentId(32), None);
    assert!(
        sim.alerts
            .iter()
            .all(|a| a.compartment != Some(CompartmentId(32)))
    );
    // The sensor is mended: it is heard again, and may be alerted again.
    reading(&mut sim, FRIDGE, Some(39));
    for _ in 0..7 {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, FRIDGE, None);
    }
    assert_eq!(cold_alerts(&sim).len(), 2);
}

#[test]
fn answers_lost_on_the_line_are_no_silence() {
    let mut sim = bank();
    reading(&mut sim, FRIDGE, Some(41));
    // Hours of scans whose answers never arrive (a noisy line): the bank
    // knows nothing new of the thermometer, and says nothing.
    sim.run_until(sim.now + Duration::from_hours(6));
    reading(&mut sim, FRIDGE, None);
    assert_eq!(cold_alerts(&sim), []);
}

#[test]
fn absurd_readings_are_no_temperature_but_evidence_of_a_broken_sensor() {
    let mut sim = bank();
    reading(&mut sim, FRIDGE, Some(40));
    for t in [i16::MIN, i16::MAX, -32000, 30000, 30000, 30000] {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, FRIDGE, Some(t));
    }
    // A reading on an ordinary compartment, however absurd, is ignored.
    reading(&mut sim, CompartmentId(1), Some(i16::MIN));
    assert!(
        sim.alerts
            .iter()
            .all(|a| a.kind != AlertKind::TemperatureOutOfRange),
        "an error value is not a warm fridge"
    );
    let alerts = cold_alerts(&sim);
    assert_eq!(alerts.len(), 1);
    assert!(matches!(
        alerts[0],
        (
            AlertKind::TemperatureSensorSilent,
            Evidence::TemperatureSilent {
                last: Some(Temperature(30000)),
                ..
            }
        )
    ));
}

#[test]
fn a_perishable_parcels_pickup_writes_its_cold_chain_first() {
    let mut sim = bank();
    let r = sim.reserve(PERISHABLE);
    let fridge = r.compartment;
    let code = sim.deposit(fridge);
    reading(&mut sim, fridge, Some(30));
    for t in [95, 90, 50] {
        sim.advance(Duration::from_mins(15));
        reading(&mut sim, fridge, Some(t));
    }
    sim.advance(Duration::from_mins(5));
    sim.pick_up(&code, fridge);
    let at = sim
        .audit
        .iter()
        .position(|a| {
            a.event
                == AuditEvent::PickupVerified {
                    purpose: Purpose::Pickup,
                }
        })
        .unwrap();
    let chain = &sim.audit[at - 1];
    assert_eq!(
        chain.event,
        AuditEvent::ColdChain {
            min: Some(deg(30)),
            max: Some(deg(95)),
            out_of_range: Duration::from_mins(30),
        }
    );
    assert_eq!(chain.parcel, Some(r.parcel));
    assert_eq!(chain.compartment, Some(fridge));
    // An ordinary parcel has no cold chain.
    let r = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let code = sim.deposit(r.compartment);
    sim.pick_up(&code, r.compartment);
    let chains = sim
        .audit
        .iter()
        .filter(|a| matches!(a.event, AuditEvent::ColdChain { .. }))
        .count();
    assert_eq!(chains, 1);
}

#[test]
fn a_perishable_parcel_and_its_cold_chain_survive_a_restart() {
    let mut sim = bank();
    let r = sim.reserve(PERISHABLE);
    let fridge = r.compartment;
    let code = sim.deposit(fridge);
    reading(&mut sim, fridge, Some(33));
    sim.advance(Duration::from_mins(15));
    reading(&mut sim, fridge, Some(71));
    sim.restart_at(Instant::from_secs(5));
    reading(&mut sim, fridge, Some(52));
    sim.advance(Duration::from_mins(1));
    sim.pick_up(&code, fridge);
    assert!(sim.audit.iter().any(|a| a.event
        == AuditEvent::ColdChain {
            min: Some(deg(33)),
            max: Some(deg(71)),
            out_of_range: Duration::ZERO,
        }));
}

#[test]
fn perishables_are_reminded_at_4h_escalated_at_12h_and_removed_after_24h() {
    let mut sim = bank();
    let r = sim.reserve(PERISHABLE);
    let ordinary = sim.reserve(ParcelNeeds::size(SizeClass::Small));
    let deposited = sim.now;
    sim.deposit(r.compartment);
    sim.deposit(ordinary.compartment);
    let notices = |sim: &Sim<32>, kind: NotificationKind| {
        sim.notes
            .iter()
            .filter(|n| n.kind == kind && n.compartment == r.compartment)
            .map(|n| n.at - deposited)
            .collect::<Vec<_>>()
    };
    sim.run_until(deposited + Duration::from_hours(25));
    assert_eq!(
        notices(&sim, NotificationKind::Reminder),
        [Duration::from_hours(4)]
    );
    assert_eq!(
        notices(&sim, NotificationKind::Escalation),
        [Duration::from_hours(12), Duration::from_hours(12)],
        "recipient and staff"
    );
    assert_eq!(
        notices(&sim, NotificationKind::RemovalTask),
        [Duration::from_hours(24)]
    );
    assert_eq!(sim.bank.view(r.compartment).unwrap().stage, Stage::Expired);
    // The ordinary parcel keeps the ordinary deadlines: one reminder at 24 h.
    assert_eq!(
        sim.bank.view(ordinary.compartment).unwrap().stage,
        Stage::Stored
    );
    assert_eq!(sim.bank.stats().reminders, 2);
}

#[test]
fn the_perishable_deadlines_are_configurable() {
    let mut policy = Policy::default();
    policy.cold.reminder_after = Duration::from_hours(2);
    let mut sim = Sim::<32>::new(32, policy);
    let r = sim.reserve(PERISHABLE);
    let deposited = sim.now;
    sim.deposit(r.compartment);
    sim.run_until(deposited + Duration::from_hours(3));
    assert!(sim.notes.iter().any(
        |n| n.kind == NotificationKind::Reminder && n.at - deposited == Duration::from_hours(2)
    ));
}
