//! A load cell as it really reads (an HX711's raw counts, a few hundred of
//! them of noise at every sample) on a node: the units of its threshold
//! come from its driver, never from a default.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use locker_domain::controller::{ConfigProblem, Controller, ControllerError};
use locker_drivers::sim::SimCompartment;
use locker_drivers::{Lock, PresenceSensor};
use locker_proto::time::{Duration, Instant};
use locker_proto::{Channel, Event, FirmwareVersion, NodeConfig, ResetReason};

const CHANNELS: usize = 4;
/// Counts of noise either side of every reading: under a gram on a cell of
/// 420 counts per gram, as a load cell on a real bench reads.
const NOISE: i32 = 300;

fn cells() -> [SimCompartment; CHANNELS] {
    core::array::from_fn(|k| {
        let mut cell = SimCompartment::new(Instant::ZERO);
        cell.set_presence_noise(NOISE, 11 + k as u64);
        cell
    })
}

fn node(config: NodeConfig) -> Result<Controller<CHANNELS>, ControllerError> {
    Controller::new(
        config,
        FirmwareVersion::new(1, 0, 0),
        ResetReason::PowerOn,
        Instant::ZERO,
    )
}

/// Five minutes of the node reading every cell ten times a second, as its
/// firmware does; the events it raised.
fn five_minutes(node: &mut Controller<CHANNELS>, cells: &mut [SimCompartment]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut t = Instant::ZERO;
    let end = t + Duration::from_mins(5);
    while t < end {
        t += Duration::from_millis(100);
        for (k, cell) in cells.iter_mut().enumerate() {
            cell.advance_to(t);
            let reading = cell.reading().unwrap();
            node.handle_presence_reading(Channel(k as u8), reading, t)
                .unwrap();
        }
        events.extend(std::iter::from_fn(|| node.poll_event()));
    }
    events
}

fn presence_events(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::PresenceChanged { .. }))
        .count()
}

/// An integrator wires a load cell and starts the node on the defaults: it
/// is refused at once, the error saying what to give, rather than guessing
/// a threshold in the wrong units.
#[test]
fn a_node_on_the_default_configuration_is_refused_and_told_where_the_threshold_comes_from() {
    let refused = node(NodeConfig::default()).err();
    assert_eq!(
        refused,
        Some(ControllerError::InvalidConfig(
            ConfigProblem::ThresholdNotPositive
        ))
    );
    let said = refused.unwrap().to_string();
    assert!(said.contains("PresenceSensor::threshold()"), "{said}");
}

/// With the threshold its driver gives (half the smallest item, in the
/// cell's counts) and the empty readings taken at the bench, five minutes of
/// a noisy cell under four empty compartments raise nothing, and a parcel
/// of 50 g is seen at the next reading. The threshold a default once
/// guessed, 10 "units", is under the noise: the same five minutes flood
/// the gateway with phantom parcels.
#[test]
fn a_noisy_load_cell_with_its_drivers_threshold_raises_nothing_and_sees_a_parcel() {
    let mut cells = cells();
    let threshold = cells[0].threshold();
    let config = NodeConfig::default().with_presence_threshold(threshold);
    let mut calibrated = node(config).unwrap();
    let empty: [i32; CHANNELS] = core::array::from_fn(|k| cells[k].calibrate_empty().unwrap());
    calibrated.factory_calibrate(empty).unwrap();
    let quiet = five_minutes(&mut calibrated, &mut cells);
    assert_eq!(presence_events(&quiet), 0, "{quiet:?}");
    assert!(
        !quiet.iter().any(|e| matches!(e, Event::FaultRaised { .. })),
        "{quiet:?}"
    );
    // A parcel goes into compartment 2.
    let t = cells[2].now() + Duration::from_millis(100);
    cells[2].unlock().unwrap();
    cells[2].open_door().unwrap();
    cells[2].place_item(50).unwrap();
    cells[2].advance_to(t);
    let reading = cells[2].reading().unwrap();
    calibrated
        .handle_presence_reading(Channel(2), reading, t)
        .unwrap();
    let seen: Vec<_> = std::iter::from_fn(|| calibrated.poll_event()).collect();
    assert!(
        seen.iter().any(|e| matches!(
            e,
            Event::PresenceChanged { channel: Channel(2), presence } if presence.occupied
        )),
        "{seen:?}"
    );

    // The guess of old: a threshold of 10 against counts.
    let mut cells = self::cells();
    let mut guessed = node(NodeConfig::default().with_presence_threshold(10)).unwrap();
    let empty: [i32; CHANNELS] = core::array::from_fn(|k| cells[k].calibrate_empty().unwrap());
    guessed.factory_calibrate(empty).unwrap();
    let flood = five_minutes(&mut guessed, &mut cells);
    assert!(
        presence_events(&flood) > 1_000,
        "{}",
        presence_events(&flood)
    );
}
