//! The bank configures its nodes: one door-ajar limit for the whole bank,
//! set once in the policy (by staff or by the backend), reaching every node
//! and a node replaced on site, and a refusal that staff hear about.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bank_support;

use bank_support::*;
use locker_domain::bank::health::HealthPolicy;
use locker_domain::bank::{
    Actor, AlertKind, BankError, CommandOutcome, Evidence, NodeConfigError, Policy,
};
use locker_domain::controller::Controller;
use locker_proto::time::{Duration, Instant};
use locker_proto::{
    Channel, Command, Event, FirmwareVersion, NackReason, NodeAddr, NodeConfig, Report, ResetReason,
};

/// A bank's nodes: load cells read in raw amplifier counts, so the
/// threshold is 2,000 counts, not the default's 10 g.
fn raw_count_nodes() -> NodeConfig {
    NodeConfig {
        presence_threshold: 2_000,
        ..NodeConfig::default()
    }
}

/// A bank configuring raw-count nodes, with sensor health's drift band in
/// the same counts (800, two fifths of the threshold, as the default 4 is
/// of the default 10).
fn configuring(door_ajar_limit: Duration) -> Policy {
    let mut policy = Policy {
        door_ajar_limit,
        node_config: Some(raw_count_nodes()),
        ..Policy::default()
    };
    policy.health.drift_band = 800;
    policy
}

/// The configurations the bank sent since the last call, by node.
fn configures_sent(sim: &mut Sim<24>) -> Vec<(NodeAddr, NodeConfig)> {
    sim.drain();
    let sent = sim
        .commands
        .iter()
        .filter_map(|(node, c)| match c {
            Command::Configure(config) => Some((*node, *config)),
            _ => None,
        })
        .collect();
    sim.commands.clear();
    sent
}

/// The node's answer to the configuration the bank sent it.
fn answer(sim: &mut Sim<24>, node: NodeAddr, config: NodeConfig, outcome: CommandOutcome) {
    sim.drain();
    sim.bank
        .handle_command_result(node, &Command::Configure(config), outcome, sim.now)
        .unwrap();
}

fn nodes_of(sim: &Sim<24>) -> Vec<NodeAddr> {
    let mut nodes: Vec<NodeAddr> = sim.bank.layout().nodes().collect();
    nodes.sort();
    nodes
}

#[test]
fn every_node_gets_the_bank_s_door_ajar_limit_so_a_door_left_open_has_one_limit() {
    let mut sim = Sim::<24>::new(24, configuring(Duration::from_mins(2)));
    let mut sent = configures_sent(&mut sim);
    sent.sort_by_key(|(node, _)| *node);
    let nodes: Vec<NodeAddr> = sent.iter().map(|(node, _)| *node).collect();
    assert_eq!(nodes, nodes_of(&sim), "every node, once");
    for (_, config) in &sent {
        assert_eq!(config.door_ajar_limit_s, 120, "the policy's two minutes");
        assert_eq!(config.presence_threshold, 2_000, "the rest as given");
    }

    // A node running it reports the door ajar at the bank's limit, not at
    // its own default of 60 s.
    let t0 = Instant::ZERO;
    let fw = FirmwareVersion::new(1, 0, 0);
    let mut node = Controller::<4>::new(
        NodeConfig::default().with_presence_threshold(10),
        fw,
        ResetReason::PowerOn,
        t0,
    )
    .unwrap();
    let report = node.handle_command(&Command::Configure(sent[0].1), t0);
    assert_eq!(report, Report::Ack);
    node.handle_door_level(Channel(0), true, t0).unwrap();
    node.handle_door_level(Channel(0), true, t0 + Duration::from_millis(40))
        .unwrap();
    let mut ajar_at = None;
    let mut t = t0;
    while t < t0 + Duration::from_mins(5) && ajar_at.is_none() {
        t += Duration::from_secs(1);
        node.handle_timeout(t);
        while let Some(event) = node.poll_event() {
            if matches!(event, Event::DoorAjar { .. }) {
                ajar_at = Some(t);
            }
        }
    }
    let ajar_at = ajar_at.expect("the node reports the door ajar");
    assert!(
        ajar_at >= t0 + Duration::from_mins(2) && ajar_at <= t0 + Duration::from_secs(122),
        "reported at {ajar_at}, the bank's limit being 2 min"
    );
}

#[test]
fn a_new_door_ajar_limit_reaches_every_node_at_once_and_an_unrelated_change_sends_nothing() {
    let mut sim = Sim::<24>::new(24, configuring(Duration::from_mins(2)));
    configures_sent(&mut sim);

    let mut quieter = *sim.bank.policy();
    quieter.code_digits = 8;
    sim.drain();
    sim.bank.set_policy(quieter, Actor::Staff, sim.now).unwrap();
    assert!(
        configures_sent(&mut sim).is_empty(),
        "the nodes' configuration did not change"
    );

    let mut longer = *sim.bank.policy();
    longer.door_ajar_limit = Duration::from_mins(5);
    sim.drain();
    sim.bank.set_policy(longer, Actor::Staff, sim.now).unwrap();
    let sent = configures_sent(&mut sim);
    assert_eq!(sent.len(), nodes_of(&sim).len());
    assert!(sent.iter().all(|(_, c)| c.door_ajar_limit_s == 300));
}

#[test]
fn a_node_that_restarts_or_comes_back_is_configured_again() {
    let mut sim = Sim::<24>::new(24, configuring(Duration::from_mins(2)));
    configures_sent(&mut sim);
    let (node, _) = sim.wiring(sim.bank.layout().compartments()[0].id);

    // Replaced on site: the new board starts with its factory settings.
    sim.drain();
    sim.bank
        .handle_node_event(
            node,
            &Event::NodeStarted {
                reset_reason: ResetReason::PowerOn,
                held: None,
            },
            sim.now,
        )
        .unwrap();
    let sent = configures_sent(&mut sim);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, node);

    sim.drain();

    sim.bank.handle_node_back(node, sim.now).unwrap();
    assert_eq!(configures_sent(&mut sim).len(), 1);
}

#[test]
fn a_node_that_refuses_the_configuration_is_reported_to_staff_with_its_reason() {
    let mut sim = Sim::<24>::new(24, configuring(Duration::from_mins(2)));
    let sent = configures_sent(&mut sim);
    let (node, config) = sent[0];
    answer(
        &mut sim,
        node,
        config,
        CommandOutcome::Nacked(NackReason::Unsupported),
    );
    sim.drain();
    let alert = sim
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::NodeFault)
        .expect("a node-fault alert");
    assert_eq!(
        alert.evidence,
        Evidence::CommandsRefused {
            node,
            refused: 1,
            reason: NackReason::Unsupported
        }
    );

    // Unanswered, or refused for a counter that fell behind the node's
    // floor when it restarted: "later", sent again. Taken: nothing more.
    let (other, config) = sent[1];
    answer(
        &mut sim,
        other,
        config,
        CommandOutcome::Nacked(NackReason::Stale {
            floor: locker_proto::Floor::new(4_096),
        }),
    );
    assert_eq!(configures_sent(&mut sim), vec![(other, config)]);
    answer(&mut sim, other, config, CommandOutcome::Failed);
    assert_eq!(configures_sent(&mut sim), vec![(other, config)]);
    answer(&mut sim, other, config, CommandOutcome::Acked);
    assert!(configures_sent(&mut sim).is_empty());
    assert_eq!(sim.alerts_of(AlertKind::NodeFault), 1);
}

#[test]
fn a_configuration_that_would_cut_every_unlock_short_is_refused_and_changes_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.drain();
    let before = *sim.bank.policy();
    let mut short = before;
    short.node_config = Some(NodeConfig {
        max_pulse_ms: 300,
        ..raw_count_nodes()
    });
    let refused = sim
        .bank
        .set_policy(short, Actor::Staff, sim.now)
        .unwrap_err();
    assert_eq!(
        refused,
        BankError::NodeConfig(NodeConfigError::PulseCutShort {
            max_pulse_ms: 300,
            unlock_pulse_ms: 500
        })
    );
    let mut no_threshold = before;
    no_threshold.node_config = Some(NodeConfig {
        presence_threshold: 0,
        ..raw_count_nodes()
    });
    assert!(matches!(
        sim.bank.set_policy(no_threshold, Actor::Staff, sim.now),
        Err(BankError::NodeConfig(NodeConfigError::Refused(_)))
    ));
    assert_eq!(*sim.bank.policy(), before);
    assert!(configures_sent(&mut sim).is_empty());
}

#[test]
fn a_drift_band_in_other_units_than_the_nodes_threshold_is_refused_and_changes_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    sim.drain();
    let before = *sim.bank.policy();
    // An integrator gives the bank raw-count nodes (threshold 2,000) and
    // keeps the default drift band of 4, meant for grams: every cell's
    // ordinary noise would count as drift and be re-tared without end.
    let mut grams_band = before;
    grams_band.node_config = Some(raw_count_nodes());
    assert_eq!(
        sim.bank.set_policy(grams_band, Actor::Staff, sim.now),
        Err(BankError::NodeConfig(
            NodeConfigError::DriftBandOutOfScale {
                drift_band: 4,
                presence_threshold: 2_000
            }
        ))
    );
    // A band as wide as half the threshold would let an empty compartment's
    // zero wander to where the node no longer lets a parcel go.
    let mut too_wide = grams_band;
    too_wide.health.drift_band = 1_000;
    assert!(matches!(
        sim.bank.set_policy(too_wide, Actor::Staff, sim.now),
        Err(BankError::NodeConfig(
            NodeConfigError::DriftBandOutOfScale { .. }
        ))
    ));
    assert_eq!(*sim.bank.policy(), before);
    assert!(configures_sent(&mut sim).is_empty());

    // In the nodes' counts it is taken; and break-beam nodes (on or off,
    // threshold 1) have no band to check.
    let mut counts = grams_band;
    counts.health.drift_band = 800;
    sim.bank.set_policy(counts, Actor::Staff, sim.now).unwrap();
    let mut beams = before;
    beams.node_config = Some(NodeConfig {
        presence_threshold: 1,
        ..NodeConfig::default()
    });
    sim.drain();
    sim.bank.set_policy(beams, Actor::Staff, sim.now).unwrap();
}

#[test]
fn the_band_for_a_threshold_is_one_the_bank_takes_with_it() {
    for threshold in (4..2_000).chain((2_000..1_000_000).step_by(997)) {
        let mut policy = Policy {
            node_config: Some(NodeConfig {
                presence_threshold: threshold,
                ..NodeConfig::default()
            }),
            ..Policy::default()
        };
        policy.health.drift_band = HealthPolicy::drift_band_for(threshold);
        assert_eq!(policy.check_node_config(), Ok(()), "threshold {threshold}");
    }
}

#[test]
fn a_bank_that_does_not_configure_its_nodes_sends_them_nothing() {
    let mut sim = Sim::<24>::new(24, Policy::default());
    assert!(configures_sent(&mut sim).is_empty());
    let (node, _) = sim.wiring(sim.bank.layout().compartments()[0].id);
    sim.drain();
    sim.bank.handle_node_back(node, sim.now).unwrap();
    assert!(configures_sent(&mut sim).is_empty());
}
