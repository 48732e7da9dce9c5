//! A Kerong board behind `kerong::BoardNode`, driven by the gateway's real
//! bus master (`locker_proto::link::Master`) over encoded frames: the
//! gateway must not be able to tell it from one of our nodes.

// Test code: a failed expectation is meant to panic.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{ScriptedSerial, expect, reply};
use embedded_io::{Read, Write};
use locker_drivers::kerong::{
    BOARD_SILENT_FAULT, BoardNode, BoardNodeConfig, Cu16, Cu16Address, Cu16StatusRequest, Cu48,
};
use locker_drivers::sim::{SimCu16, SimCu48, SimLineDevice, SimRs485};
use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
use locker_proto::link::{Master, MasterConfig, MasterEvent};
use locker_proto::{
    Channel, ChannelBits, Command, DoorState, Duration, Event, Indicator, Instant, NackReason,
    NodeAddr, NodeConfig, Presence, Report, ResetReason,
};

const NODE: NodeAddr = NodeAddr(9);
const BOARD: u8 = 2;

// A scripted port holds no time of its own.
impl SimLineDevice for ScriptedSerial {
    fn advance_to(&mut self, _now: Instant) {}
}

#[derive(Clone, Copy)]
enum Model {
    Cu16(Cu16Address),
    Cu16QueryAll(Cu16Address),
    Cu48(u8),
}

/// The gateway's master, the adapter and its board, with simulated time.
/// Frames cross as encoded bytes, so authentication (feature `auth`) is
/// checked for real.
struct Bank<L: SimLineDevice> {
    master: Master<4>,
    /// The Kerong nodes on the line, each with the board it stands for.
    nodes: Vec<(BoardNode<16>, Model)>,
    line: L,
    now: Instant,
    /// Node events the master delivered, in order, with their node.
    events: Vec<(NodeAddr, Event)>,
    /// Answers the master matched to commands sent with `send`.
    answers: Vec<(Command, Report)>,
    /// Other things the master reported (lost node, failed request).
    master_events: Vec<MasterEvent>,
    /// Answers from the adapter to lose on the way back.
    lose_answers: usize,
}

impl Bank<SimCu16> {
    fn cu16() -> Self {
        let address = Cu16Address::new(BOARD).unwrap();
        Bank::new(
            Model::Cu16(address),
            SimCu16::cu16(address, Instant::ZERO),
            power_on(),
        )
    }
}

impl<L: SimLineDevice> Bank<L> {
    fn new(model: Model, line: L, node: BoardNode<16>) -> Self {
        Bank::on_line(line, vec![(node, model)])
    }

    /// A bank whose gateway drives every node in `nodes` over `line`.
    fn on_line(line: L, nodes: Vec<(BoardNode<16>, Model)>) -> Self {
        let mut master = Master::new(MasterConfig::default());
        for (node, _) in &nodes {
            master.add_node(node.addr(), Instant::ZERO).unwrap();
        }
        let mut bank = Bank {
            master,
            nodes,
            line,
            now: Instant::ZERO,
            events: Vec::new(),
            answers: Vec::new(),
            master_events: Vec::new(),
            lose_answers: 0,
        };
        bank.share_keys();
        bank
    }

    /// The first (usually the only) Kerong node.
    fn node(&self) -> &BoardNode<16> {
        &self.nodes[0].0
    }

    #[cfg_attr(not(feature = "auth"), allow(dead_code))]
    fn node_mut(&mut self) -> &mut BoardNode<16> {
        &mut self.nodes[0].0
    }

    /// Both ends hold each node's key, as after provisioning.
    #[cfg(feature = "auth")]
    fn share_keys(&mut self) {
        use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
        let bank_key = BankKey::from_bytes([0x5A; 32]);
        for (node, _) in &mut self.nodes {
            let key = bank_key.node_key(NodeIdentity::at(node.addr()));
            self.master.set_key(node.addr(), key, 0).unwrap();
            node.link_mut().restore_auth(NodeAuthRecord {
                key: Some(key),
                rx_floor: 0,
            });
        }
        self.persist();
    }

    #[cfg(not(feature = "auth"))]
    fn share_keys(&mut self) {}

    /// Stores every counter reservation at once, as both shells do.
    #[cfg(feature = "auth")]
    fn persist(&mut self) {
        while let Some((addr, up_to)) = self.master.poll_persist() {
            self.master.persisted(addr, up_to);
        }
        for (node, _) in &mut self.nodes {
            while let Some(record) = node.link_mut().poll_persist() {
                node.link_mut().persisted(&record);
            }
        }
    }

    #[cfg(not(feature = "auth"))]
    fn persist(&mut self) {}

    /// The gateway queues `command` for the Kerong node.
    fn send(&mut self, command: Command) {
        self.send_to(NODE, command);
    }

    fn send_to(&mut self, node: NodeAddr, command: Command) {
        self.master.send(node, command, self.now).unwrap();
        self.pump();
    }

    /// Runs the bus until `at`, in steps of 10 ms.
    fn run_until(&mut self, at: Instant) {
        while self.now < at {
            self.now = Instant::from_millis(self.now.as_millis() + 10).min(at);
            self.line.advance_to(self.now);
            self.master.handle_timeout(self.now);
            self.pump();
        }
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Carries every frame the master has to send, and its answer, now.
    fn pump(&mut self) {
        loop {
            self.persist();
            let Some(request) = self.master.poll_outgoing(self.now) else {
                break;
            };
            let mut wire = [0u8; MAX_FRAME];
            let bytes = request.encode(&mut wire).unwrap().to_vec();
            self.deliver_to_node(&bytes);
            self.persist();
            let answers: Vec<_> = self
                .nodes
                .iter_mut()
                .filter_map(|(node, _)| node.poll_outgoing())
                .collect();
            for answer in answers {
                let bytes = answer.encode(&mut wire).unwrap().to_vec();
                if self.lose_answers > 0 {
                    self.lose_answers -= 1;
                    continue;
                }
                let mut decoder = Decoder::new();
                let Feed::Frame { frame, .. } = decoder.feed::<Report>(&bytes) else {
                    panic!("the adapter sent an undecodable frame");
                };
                self.master
                    .handle_received(&frame, decoder.last_authenticated(), self.now);
            }
            self.collect();
        }
        self.collect();
    }

    /// Feeds bytes from the bus to the adapter, as the gateway shell does.
    fn deliver_to_node(&mut self, bytes: &[u8]) {
        let mut decoder = Decoder::new();
        let Feed::Frame { frame, .. } = decoder.feed::<Command>(bytes) else {
            panic!("the master sent an undecodable frame");
        };
        let auth = decoder.last_authenticated();
        // Every node sees the frame; only the addressed one asks its board.
        for (node, model) in &mut self.nodes {
            let line = &mut self.line;
            // A board failure is already answered on the bus and counted.
            let _ = match *model {
                Model::Cu16(address) => {
                    node.handle_received(&frame, auth, &mut Cu16::new(line, address), self.now)
                }
                Model::Cu16QueryAll(address) => node.handle_received(
                    &frame,
                    auth,
                    &mut Cu16::new(line, address).with_status_request(Cu16StatusRequest::QueryAll),
                    self.now,
                ),
                Model::Cu48(address) => {
                    node.handle_received(&frame, auth, &mut Cu48::new(line, address), self.now)
                }
            };
        }
    }

    fn collect(&mut self) {
        while let Some(event) = self.master.poll_event() {
            match event {
                MasterEvent::Event { node, record } => self.events.push((node, record.event)),
                MasterEvent::Response {
                    command, report, ..
                } => self.answers.push((command, report)),
                other => self.master_events.push(other),
            }
        }
    }

    /// The answer to the last command sent.
    fn last_answer(&self) -> &Report {
        match self.answers.last() {
            Some((_, report)) => report,
            None => panic!("the gateway has no answer yet"),
        }
    }

    /// Events the gateway receives from the next polls (300 ms of bus).
    fn reported(&mut self) -> Vec<Event> {
        self.run_for(Duration::from_millis(300));
        self.take_events()
    }

    /// Events delivered since the last call, from any node.
    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
            .into_iter()
            .map(|(_, event)| event)
            .collect()
    }
}

impl<L: SimLineDevice> Drop for Bank<L> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.master_events.is_empty(),
                "the gateway saw trouble on the bus: {:?}",
                self.master_events
            );
        }
    }
}

/// A node at `NODE` as the gateway shell builds one at power-on.
fn power_on() -> BoardNode<16> {
    BoardNode::new(
        NODE,
        ResetReason::PowerOn,
        BoardNodeConfig::default(),
        Instant::ZERO,
    )
}

fn opened(channel: u8, commanded: bool) -> Event {
    Event::DoorOpened {
        channel: Channel(channel),
        commanded,
    }
}

fn closed(channel: u8) -> Event {
    Event::DoorClosed {
        channel: Channel(channel),
    }
}

fn unlock(channel: u8) -> Command {
    Command::Unlock {
        channel: Channel(channel),
        pulse_ms: 500,
    }
}

impl Bank<SimCu16> {
    fn compartment(&mut self, channel: u8) -> &mut locker_drivers::sim::SimCompartment {
        self.line.compartment_mut(Channel(channel)).unwrap()
    }

    /// The gateway unlocks `channel` for a courier, who pulls the door open
    /// a moment later.
    fn courier_opens(&mut self, channel: u8) {
        self.send(unlock(channel));
        assert_eq!(self.last_answer(), &Report::Ack);
        self.run_for(Duration::from_millis(300));
        self.compartment(channel).open_door().unwrap();
    }

    /// A started bank whose start event the gateway has taken.
    fn greeted() -> Self {
        let mut bank = Bank::cu16();
        assert_eq!(
            bank.reported(),
            [Event::NodeStarted {
                reset_reason: ResetReason::PowerOn,
                held: None,
            }]
        );
        bank
    }
}

#[test]
fn a_kerong_board_greets_the_gateway_as_a_node_and_reports_every_channel() {
    let mut bank = Bank::greeted();
    bank.send(Command::GetAllStatus);
    let Report::BulkStatus(bulk) = bank.last_answer() else {
        panic!("{:?}", bank.last_answer())
    };
    assert_eq!(bulk.channels, 16);
    assert_eq!(bulk.locked, ChannelBits(0xFFFF));
    assert_eq!(bulk.door_open, ChannelBits(0));
    assert_eq!(bulk.occupied, ChannelBits(0));
    bank.send(Command::PING);
    assert!(matches!(
        bank.last_answer(),
        Report::Pong {
            reset_reason: ResetReason::PowerOn,
            ..
        }
    ));
}

#[test]
fn a_couriers_unlock_opens_the_door_and_the_opening_is_reported_as_commanded() {
    let mut bank = Bank::greeted();
    bank.courier_opens(3);
    bank.run_for(Duration::from_millis(300));
    bank.compartment(3).close_door();
    assert_eq!(bank.reported(), [opened(3, true), closed(3),]);
    assert_eq!(
        bank.line.compartment(Channel(3)).unwrap().unlock_pulses(),
        1
    );
}

#[test]
fn a_door_pried_open_with_no_unlock_is_reported_as_forced() {
    let mut bank = Bank::greeted();
    bank.compartment(5).force_door();
    assert_eq!(bank.reported(), [opened(5, false)]);
}

#[test]
fn one_unlock_covers_one_opening_only() {
    let mut bank = Bank::greeted();
    bank.courier_opens(0);
    bank.compartment(0).close_door();
    bank.run_for(Duration::from_millis(300));
    bank.compartment(0).force_door();
    let events = bank.reported();
    assert_eq!(events, [opened(0, true), closed(0), opened(0, false),]);
}

#[test]
fn a_latch_released_long_after_its_unlock_is_reported_as_forced() {
    let mut bank = Bank::greeted();
    bank.compartment(6).set_lock_stuck(true);
    bank.send(unlock(6));
    // The lock did not move; 11 s later someone breaks the door open.
    bank.run_for(Duration::from_secs(11));
    bank.compartment(6).force_door();
    assert_eq!(bank.reported(), [opened(6, false)]);
}

#[test]
fn a_retransmitted_unlock_pulses_the_boards_lock_once() {
    let mut bank = Bank::greeted();
    bank.lose_answers = 1;
    bank.send(unlock(4));
    assert!(bank.answers.is_empty(), "the first answer was lost");
    bank.run_for(Duration::from_millis(200));
    assert_eq!(bank.answers, [(unlock(4), Report::Ack)]);
    assert!(bank.master.stats().retransmissions >= 1);
    assert_eq!(
        bank.line.compartment(Channel(4)).unwrap().unlock_pulses(),
        1
    );
    assert_eq!(bank.node().stats().unlocks, 1);
}

#[test]
fn a_parcel_put_in_is_reported_as_present_from_the_ir_bit() {
    let mut bank = Bank::greeted();
    bank.courier_opens(7);
    bank.compartment(7).place_item(1_200).unwrap();
    bank.compartment(7).close_door();
    assert_eq!(
        bank.reported(),
        [
            opened(7, true),
            closed(7),
            Event::PresenceChanged {
                channel: Channel(7),
                presence: Presence::occupied(1, 1)
            },
        ]
    );
    bank.send(Command::GetStatus {
        channel: Channel(7),
    });
    let Report::Status(status) = bank.last_answer() else {
        panic!("{:?}", bank.last_answer())
    };
    assert_eq!(status.channel, Channel(7));
    assert_eq!(status.presence, Presence::occupied(1, 1));
    assert_eq!(status.door, DoorState::Closed);
}

#[test]
fn a_parcel_taken_out_is_reported_as_gone() {
    let mut bank = Bank::greeted();
    bank.compartment(2).force_door();
    bank.compartment(2).place_item(300).unwrap();
    bank.run_for(Duration::from_millis(300));
    bank.compartment(2).remove_items().unwrap();
    let presence: Vec<_> = bank
        .reported()
        .into_iter()
        .filter_map(|e| match e {
            Event::PresenceChanged { channel, presence } => Some((channel, presence)),
            _ => None,
        })
        .collect();
    assert_eq!(
        presence,
        [
            (Channel(2), Presence::occupied(1, 1)),
            (Channel(2), Presence::empty(0, 1)),
        ]
    );
}

#[test]
fn a_board_that_stops_answering_is_reported_then_recovers() {
    let mut bank = Bank::greeted();
    bank.line.set_silent(true);
    bank.run_for(Duration::from_secs(1));
    assert_eq!(
        bank.take_events(),
        [Event::FaultRaised {
            channel: None,
            fault: BOARD_SILENT_FAULT
        }]
    );
    assert!(bank.node().is_board_silent());
    // The node still answers for it: the gateway is told, not left guessing.
    bank.send(unlock(3));
    assert_eq!(bank.last_answer(), &Report::Nack(NackReason::Faulted));
    bank.send(Command::GetAllStatus);
    assert_eq!(bank.last_answer(), &Report::Nack(NackReason::Faulted));
    bank.send(unlock(16));
    assert_eq!(
        bank.last_answer(),
        &Report::Nack(NackReason::UnknownChannel)
    );
    assert_eq!(
        bank.line.compartment(Channel(3)).unwrap().unlock_pulses(),
        0
    );

    // While it was silent, a door was pried open.
    bank.compartment(8).force_door();
    bank.line.set_silent(false);
    assert_eq!(
        bank.reported(),
        [
            Event::FaultCleared {
                channel: None,
                fault: BOARD_SILENT_FAULT
            },
            opened(8, false),
        ]
    );
    assert!(!bank.node().is_board_silent());
    assert_eq!(bank.node().stats().silent_reports, 1);
    assert!(bank.node().stats().unanswered >= 6);
}

#[test]
fn a_garbled_answer_from_the_board_changes_nothing() {
    let mut bank = Bank::greeted();
    bank.line.corrupt_next_answer();
    bank.send(Command::GetAllStatus);
    assert!(matches!(bank.last_answer(), Report::BulkStatus(_)));
    assert_eq!(bank.reported(), []);
    assert_eq!(bank.node().stats().garbled, 1);
    assert!(!bank.node().is_board_silent());
}

#[test]
fn line_noise_before_an_answer_changes_nothing() {
    let mut bank = Bank::greeted();
    bank.line.inject_line_noise(&[0x02, 0x00, 0x35, 0xFF, 0x00]);
    assert_eq!(bank.reported(), []);
    bank.send(Command::GetAllStatus);
    assert!(matches!(bank.last_answer(), Report::BulkStatus(b) if b.locked == ChannelBits(0xFFFF)));
}

#[test]
fn a_late_answer_from_the_board_changes_nothing_and_the_next_read_is_fresh() {
    let mut bank = Bank::greeted();
    bank.line.answer_next_late();
    bank.send(Command::GetAllStatus);
    assert!(matches!(bank.last_answer(), Report::BulkStatus(_)));
    assert_eq!(bank.node().stats().unanswered, 1);
    // A door forced now is seen at the very next exchange, not one late.
    bank.compartment(11).force_door();
    bank.send(Command::GetAllStatus);
    let Report::BulkStatus(bulk) = bank.last_answer() else {
        panic!()
    };
    assert_eq!(bulk.door_open, ChannelBits(1 << 11));
    assert_eq!(bank.reported(), [opened(11, false)]);
}

#[test]
fn a_door_left_open_is_reported_ajar_once() {
    let mut bank = Bank::greeted();
    bank.courier_opens(12);
    bank.run_for(Duration::from_secs(61));
    bank.run_for(Duration::from_secs(5));
    assert_eq!(
        bank.take_events(),
        [
            opened(12, true),
            Event::DoorAjar {
                channel: Channel(12)
            },
        ]
    );
}

#[test]
fn the_bank_s_door_ajar_limit_reaches_a_kerong_board_through_configure() {
    let mut bank = Bank::greeted();
    bank.send(Command::Configure(NodeConfig {
        door_ajar_limit_s: 120,
        ..NodeConfig::default().with_presence_threshold(10)
    }));
    assert_eq!(bank.last_answer(), &Report::Ack);
    bank.courier_opens(12);
    bank.run_for(Duration::from_secs(90));
    assert_eq!(bank.take_events(), [opened(12, true)], "not ajar at 90 s");
    bank.run_for(Duration::from_secs(35));
    assert_eq!(
        bank.take_events(),
        [Event::DoorAjar {
            channel: Channel(12)
        }]
    );
    bank.send(Command::Configure(NodeConfig {
        door_ajar_limit_s: 0,
        ..NodeConfig::default().with_presence_threshold(10)
    }));
    assert_eq!(bank.last_answer(), &Report::Nack(NackReason::InvalidConfig));
}

#[test]
fn commands_a_kerong_board_cannot_carry_out_are_refused_as_unsupported() {
    let mut bank = Bank::greeted();
    for command in [
        Command::Calibrate {
            channel: Channel(0),
        },
        Command::SetIndicator {
            channel: Channel(0),
            indicator: Indicator::Blink,
        },
    ] {
        bank.send(command);
        assert_eq!(bank.last_answer(), &Report::Nack(NackReason::Unsupported));
    }
}

#[test]
fn a_channel_the_board_lacks_is_refused_and_nothing_is_pulsed() {
    let mut bank = Bank::greeted();
    bank.send(unlock(16));
    assert_eq!(
        bank.last_answer(),
        &Report::Nack(NackReason::UnknownChannel)
    );
    bank.send(Command::GetStatus {
        channel: Channel(16),
    });
    assert_eq!(
        bank.last_answer(),
        &Report::Nack(NackReason::UnknownChannel)
    );
    bank.send(Command::Unlock {
        channel: Channel(1),
        pulse_ms: 0,
    });
    assert_eq!(bank.last_answer(), &Report::Nack(NackReason::NotPermitted));
    assert_eq!(bank.node().stats().unlocks, 0);
}

#[test]
fn the_upper_half_of_a_cu48_is_a_node_of_24_channels() {
    let line = SimCu48::cu48(1, Instant::ZERO);
    let node = power_on().with_channels(Channel(24), 24);
    let mut bank = Bank::new(Model::Cu48(1), line, node);
    bank.run_for(Duration::from_millis(300));
    bank.send(Command::GetAllStatus);
    let Report::BulkStatus(bulk) = bank.last_answer() else {
        panic!()
    };
    assert_eq!(bulk.channels, 24);
    assert_eq!(bulk.locked, ChannelBits(0x00FF_FFFF));
    bank.send(unlock(2));
    assert_eq!(bank.last_answer(), &Report::Ack);
    assert_eq!(
        bank.line.compartment(Channel(26)).unwrap().unlock_pulses(),
        1
    );
    bank.run_for(Duration::from_millis(300));
    bank.line
        .compartment_mut(Channel(26))
        .unwrap()
        .open_door()
        .unwrap();
    bank.run_for(Duration::from_millis(300));
    assert!(bank.take_events().contains(&opened(2, true)));
}

#[test]
fn a_board_asked_with_query_all_reports_a_forced_door_the_same_way() {
    let address = Cu16Address::new(BOARD).unwrap();
    let line = SimCu16::cu16(address, Instant::ZERO);
    let mut bank = Bank::new(Model::Cu16QueryAll(address), line, power_on());
    bank.run_for(Duration::from_millis(300));
    bank.take_events();
    bank.compartment(15).force_door();
    assert_eq!(bank.reported(), [opened(15, false)]);
    assert_eq!(
        bank.node().stats().garbled + bank.node().stats().unanswered,
        0
    );
}

#[test]
fn two_boards_on_one_line_each_stand_for_their_own_node() {
    let [a, b] = [0, 1].map(|n| Cu16Address::new(n).unwrap());
    let line = SimRs485::new([
        SimCu16::cu16(a, Instant::ZERO),
        SimCu16::cu16(b, Instant::ZERO),
    ]);
    let at = |addr| {
        BoardNode::new(
            addr,
            ResetReason::PowerOn,
            BoardNodeConfig::default(),
            Instant::ZERO,
        )
    };
    let (left, right) = (NodeAddr(21), NodeAddr(22));
    let mut bank = Bank::on_line(
        line,
        vec![(at(left), Model::Cu16(a)), (at(right), Model::Cu16(b))],
    );
    bank.run_for(Duration::from_millis(300));
    bank.events.clear();

    bank.send_to(right, unlock(9));
    assert_eq!(bank.last_answer(), &Report::Ack);
    let pulses = |bank: &Bank<SimRs485<SimCu16, 2>>, board: usize| {
        bank.line
            .device(board)
            .unwrap()
            .compartment(Channel(9))
            .unwrap()
            .unlock_pulses()
    };
    assert_eq!((pulses(&bank, 0), pulses(&bank, 1)), (0, 1));
    bank.line
        .device_mut(0)
        .unwrap()
        .compartment_mut(Channel(1))
        .unwrap()
        .force_door();
    bank.run_for(Duration::from_millis(600));
    let mut events = core::mem::take(&mut bank.events);
    events.sort_by_key(|(node, _)| *node);
    assert_eq!(events, [(left, opened(1, false)), (right, opened(9, true))]);
}

#[test]
fn frames_for_another_node_never_reach_the_board() {
    use locker_proto::frame::{Flags, Frame, Header, Seq};
    let mut line = ScriptedSerial::new(&[]);
    let mut node = power_on();
    let frame = Frame {
        header: Header::new(NodeAddr::GATEWAY, NodeAddr(10), Seq(1), Flags::ACK_WANTED),
        body: Command::GetAllStatus,
    };
    let board = Cu16Address::new(BOARD).unwrap();
    node.handle_frame(&frame, &mut Cu16::new(&mut line, board), Instant::ZERO)
        .unwrap();
    assert!(node.poll_transmit().is_none());
    line.done();
}

/// The vendor bytes of one gateway exchange, exactly.
mod on_the_vendor_line {
    use super::*;

    const QUERY_BOARD_2: [u8; 5] = [0x02, 0x20, 0x30, 0x03, 0x55];

    fn status_frame(locks: u16, ir: u16) -> Vec<u8> {
        let [l1, l2] = locks.to_le_bytes();
        let [i1, i2] = ir.to_le_bytes();
        let mut f = vec![0x02, 0x20, 0x35, l1, l2, i1, i2, 0x03];
        f.push(f.iter().fold(0u8, |s, b| s.wrapping_add(*b)));
        f
    }

    /// A bank on a scripted line, greeted: the master's first poll and its
    /// acknowledgement of the start event each cost a status query of a
    /// board with every latch caught. Then the line plays `rest`.
    fn greeted_on(rest: &[common::Step]) -> Bank<ScriptedSerial> {
        let all_latched = status_frame(0xFFFF, 0);
        let mut script = vec![
            expect(&QUERY_BOARD_2),
            reply(&all_latched),
            expect(&QUERY_BOARD_2),
            reply(&all_latched),
        ];
        script.extend_from_slice(rest);
        let mut bank = Bank::new(
            Model::Cu16(Cu16Address::new(BOARD).unwrap()),
            ScriptedSerial::new(&script),
            power_on(),
        );
        bank.run_for(Duration::from_millis(10));
        bank
    }

    #[test]
    fn an_unlock_is_one_status_query_and_one_unlock_frame_and_its_retransmission_only_a_query() {
        let mut bank = greeted_on(&[
            // The unlock of channel 3: status first, then lock index 3 of board 2.
            expect(&QUERY_BOARD_2),
            reply(&status_frame(0xFFFF, 0)),
            expect(&[0x02, 0x23, 0x31, 0x03, 0x59]),
            // The retransmission after the lost answer: a status query, no unlock.
            expect(&QUERY_BOARD_2),
            reply(&status_frame(0xFFF7, 0)),
        ]);
        bank.lose_answers = 1;
        bank.send(unlock(3));
        bank.run_for(Duration::from_millis(60));
        assert_eq!(bank.answers, [(unlock(3), Report::Ack)]);
        bank.line.done();
    }

    #[test]
    fn a_garbled_answer_is_asked_again_once_in_the_same_exchange() {
        let mut garbled = status_frame(0xFFFF, 0);
        garbled[3] ^= 0x10;
        let mut bank = greeted_on(&[
            // The status request, garbled, then asked again.
            expect(&QUERY_BOARD_2),
            reply(&garbled),
            expect(&QUERY_BOARD_2),
            reply(&status_frame(0xFFFF, 0x0001)),
        ]);
        bank.send(Command::GetAllStatus);
        let Report::BulkStatus(bulk) = bank.last_answer() else {
            panic!()
        };
        assert_eq!(bulk.occupied, ChannelBits(1));
        assert_eq!(bank.node().stats().garbled, 1);
        assert_eq!(bank.node().stats().status_requests, 4);
        bank.line.done();
    }
}

/// Attacks on the bus, as an attacker would try them (feature `auth`).
#[cfg(feature = "auth")]
mod attacks {
    use super::*;
    use locker_proto::frame::{Flags, Frame, Header, Seq, encode};

    #[test]
    fn an_unsigned_unlock_injected_on_the_bus_is_refused_and_pulses_nothing() {
        let mut bank = Bank::greeted();
        let forged = Frame {
            header: Header::new(NodeAddr::GATEWAY, NODE, Seq(77), Flags::ACK_WANTED),
            body: unlock(3),
        };
        let mut wire = [0u8; MAX_FRAME];
        let bytes = encode(&forged, &mut wire).unwrap().to_vec();
        bank.deliver_to_node(&bytes);
        let answer = bank.node_mut().poll_outgoing().unwrap();
        assert_eq!(answer.frame.body, Report::Nack(NackReason::Unauthenticated));
        assert_eq!(
            bank.line.compartment(Channel(3)).unwrap().unlock_pulses(),
            0
        );
        bank.run_for(Duration::from_millis(300));
        assert!(matches!(
            bank.take_events().as_slice(),
            [Event::CommandsRefused {
                refused: 1,
                reason: NackReason::Unauthenticated
            }]
        ));
    }

    #[test]
    fn a_replayed_signed_unlock_pulses_the_lock_no_second_time() {
        let mut bank = Bank::greeted();
        bank.master.send(NODE, unlock(5), bank.now).unwrap();
        let request = bank.master.poll_outgoing(bank.now).unwrap();
        let mut wire = [0u8; MAX_FRAME];
        let recorded = request.encode(&mut wire).unwrap().to_vec();
        bank.deliver_to_node(&recorded);
        while bank.node_mut().poll_outgoing().is_some() {}
        // The attacker replays the recorded frame later, twice.
        bank.run_for(Duration::from_secs(20));
        bank.deliver_to_node(&recorded);
        bank.deliver_to_node(&recorded);
        while bank.node_mut().poll_outgoing().is_some() {}
        assert_eq!(
            bank.line.compartment(Channel(5)).unwrap().unlock_pulses(),
            1
        );
        assert_eq!(bank.answers, [(unlock(5), Report::Ack)]);
    }
}

/// Whatever a board sends back, the adapter answers the gateway, panics
/// never, and reports a change only from a well-formed frame.
mod any_answer {
    use super::*;
    use locker_proto::frame::{Flags, Frame, Header, Seq};
    use proptest::prelude::*;

    /// A line whose board answers every request (5 bytes) with the same bytes.
    struct Parrot {
        answer: Vec<u8>,
        pending: std::collections::VecDeque<u8>,
        written: usize,
    }

    impl embedded_io::ErrorType for Parrot {
        type Error = embedded_io::ErrorKind;
    }

    impl Write for Parrot {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.written += buf.len();
            if self.written.is_multiple_of(5) {
                self.pending.extend(self.answer.iter().copied());
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    impl Read for Parrot {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            let n = buf.len().min(self.pending.len());
            for slot in &mut buf[..n] {
                *slot = self.pending.pop_front().unwrap();
            }
            Ok(n)
        }
    }

    fn poll(seq: u8) -> Frame<Command> {
        Frame {
            header: Header::new(NodeAddr::GATEWAY, NODE, Seq(seq), Flags::ACK_WANTED),
            body: Command::GetAllStatus,
        }
    }

    fn all_latched() -> Vec<u8> {
        let mut f = vec![0x02, 0x20, 0x35, 0xFF, 0xFF, 0x00, 0x00, 0x03];
        f.push(f.iter().fold(0u8, |s, b| s.wrapping_add(*b)));
        f
    }

    proptest! {
        #[test]
        fn no_answer_from_the_board_makes_the_adapter_panic_or_invent_a_change(
            answer in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let address = Cu16Address::new(BOARD).unwrap();
            let mut node = power_on();
            let mut line = Parrot { answer: all_latched(), pending: Default::default(), written: 0 };
            node.handle_frame(&poll(1), &mut Cu16::new(&mut line, address), Instant::ZERO).unwrap();
            prop_assert!(node.poll_transmit().is_some());
            let queued = node.link().queued_events();

            line.answer = answer.clone();
            let outcome = node.handle_frame(&poll(2), &mut Cu16::new(&mut line, address), Instant::from_millis(250));
            let report = node.poll_transmit().map(|f| f.body);
            prop_assert!(report.is_some(), "the gateway always gets an answer");
            let well_formed = answer.len() >= 9
                && answer[..3] == [0x02, 0x20, 0x35]
                && answer[7] == 0x03
                && answer[8] == answer[..8].iter().fold(0u8, |s, b| s.wrapping_add(*b));
            if well_formed {
                prop_assert!(outcome.is_ok());
            } else {
                prop_assert!(outcome.is_err());
                prop_assert_eq!(report, Some(Report::Nack(NackReason::Faulted)));
                prop_assert_eq!(node.link().queued_events(), queued);
            }
        }
    }
}
