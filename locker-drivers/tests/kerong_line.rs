//! A bank's line of Kerong boards behind `kerong::BoardLine`, driven by the
//! gateway's real bus master (`locker_proto::link::Master`) over encoded,
//! signed frames: several boards on one port, each node's frames reaching
//! its own board, and nothing on the vendor's line able to take the
//! gateway down.

// Test code: a failed expectation is meant to panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use locker_drivers::kerong::{
    BoardAddress, BoardChannels, BoardLine, BoardLineError, BoardModel, BoardNodeConfig,
    Cu16Address, KerongError,
};
use locker_drivers::sim::{SimCompartment, SimCu16, SimCu48, SimLineDevice, SimRs485};
use locker_proto::auth::{BankKey, NodeAuthRecord, NodeIdentity};
use locker_proto::frame::{Decoder, Feed, MAX_FRAME};
use locker_proto::link::{Master, MasterConfig, MasterEvent};
use locker_proto::{
    Channel, ChannelBits, Command, Duration, Event, Instant, NackReason, NodeAddr, Report,
};

const BANK_KEY: [u8; 32] = [0x3c; 32];

/// The gateway's bus master and a line of boards, with simulated time.
/// Frames cross as bytes, signed, exactly as the gateway shell carries them.
struct Bank<P: SimLineDevice> {
    master: Master<8>,
    line: BoardLine<P, 8, 16>,
    now: Instant,
    events: Vec<(NodeAddr, Event)>,
    answers: Vec<(NodeAddr, Report)>,
    master_events: Vec<MasterEvent>,
    /// The adapters' stored authentication records, as the shell keeps them.
    stored: Vec<(NodeAddr, NodeAuthRecord)>,
}

impl<P: SimLineDevice> Bank<P> {
    /// A bank whose nodes sit on `port`'s boards by `model`'s rule.
    fn new(port: P, model: BoardModel, nodes: &[u8], channels: u8) -> Self {
        let mut line = BoardLine::new(port, BoardNodeConfig::default());
        let mut master = Master::new(MasterConfig::default());
        let bank_key = BankKey::from_bytes(BANK_KEY);
        for &n in nodes {
            let node = NodeAddr(n);
            let on = model.channels_of(node, channels).unwrap();
            line.add_node(node, on, Instant::ZERO).unwrap();
            let key = bank_key.node_key(NodeIdentity::at(node));
            master.add_node(node, Instant::ZERO).unwrap();
            master.set_key(node, key, 0).unwrap();
            line.restore_auth(
                node,
                NodeAuthRecord {
                    key: Some(key),
                    rx_floor: 0,
                },
            )
            .unwrap();
        }
        let mut bank = Bank {
            master,
            line,
            now: Instant::ZERO,
            events: Vec::new(),
            answers: Vec::new(),
            master_events: Vec::new(),
            stored: Vec::new(),
        };
        bank.persist();
        bank
    }

    /// Stores what both ends ask to have stored, as the shell does.
    fn persist(&mut self) {
        while let Some((node, up_to)) = self.master.poll_persist() {
            self.master.persisted(node, up_to);
        }
        while let Some((node, record)) = self.line.poll_persist() {
            self.stored.push((node, record));
            self.line.persisted(node, &record);
        }
    }

    fn send(&mut self, node: u8, command: Command) {
        self.master.send(NodeAddr(node), command, self.now).unwrap();
        self.pump();
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.now = Instant::from_millis(self.now.as_millis() + 10);
            self.line.port_mut().advance_to(self.now);
            self.master.handle_timeout(self.now);
            self.pump();
        }
    }

    /// Carries every frame the master sends onto the line, and every answer
    /// back, as the gateway shell does.
    fn pump(&mut self) {
        let mut wire = [0u8; MAX_FRAME];
        loop {
            self.persist();
            let Some(request) = self.master.poll_outgoing(self.now) else {
                break;
            };
            self.line
                .handle_transmit(request.encode(&mut wire).unwrap(), self.now);
            self.persist();
            while let Some(answer) = self.line.poll_answer() {
                let mut decoder = Decoder::new();
                let Feed::Frame { frame, .. } = decoder.feed::<Report>(answer.bytes()) else {
                    panic!("the line answered with bytes that are not a frame");
                };
                assert_eq!(frame.header.src, answer.node());
                self.master
                    .handle_received(&frame, decoder.last_authenticated(), self.now);
            }
        }
        while let Some(event) = self.master.poll_event() {
            match event {
                MasterEvent::Event { node, record } => self.events.push((node, record.event)),
                MasterEvent::Response { node, report, .. } => self.answers.push((node, report)),
                other => self.master_events.push(other),
            }
        }
    }

    fn last_answer(&self) -> &Report {
        &self.answers.last().expect("no answer yet").1
    }

    /// The events of `node` reported at the next polls.
    fn reported_by(&mut self, node: u8) -> Vec<Event> {
        self.run_for(Duration::from_millis(600));
        let (mine, others) = core::mem::take(&mut self.events)
            .into_iter()
            .partition(|(n, _)| *n == NodeAddr(node));
        self.events = others;
        mine.into_iter().map(|(_, e)| e).collect()
    }

    /// Runs until every node's start event has been taken.
    fn greeted(mut self) -> Self {
        self.run_for(Duration::from_millis(600));
        assert!(
            self.events
                .iter()
                .all(|(_, e)| matches!(e, Event::NodeStarted { .. }))
        );
        self.events.clear();
        self
    }
}

fn cu16(address: u8) -> SimCu16 {
    SimCu16::cu16(Cu16Address::new(address).unwrap(), Instant::ZERO)
}

fn unlock(channel: u8) -> Command {
    Command::Unlock {
        channel: Channel(channel),
        pulse_ms: 500,
    }
}

type TwoCu16 = SimRs485<SimCu16, 2>;

impl Bank<TwoCu16> {
    fn two_cu16() -> Self {
        Bank::new(
            SimRs485::new([cu16(0), cu16(1)]),
            BoardModel::Cu16,
            &[1, 2],
            16,
        )
        .greeted()
    }

    /// The compartment on `channel` of the board with DIP address `board`.
    fn compartment(&mut self, board: usize, channel: u8) -> &mut SimCompartment {
        self.line
            .port_mut()
            .device_mut(board)
            .unwrap()
            .compartment_mut(Channel(channel))
            .unwrap()
    }
}

#[test]
fn a_signed_unlock_for_node_2_pulses_one_lock_on_the_board_at_dip_address_1() {
    let mut bank = Bank::two_cu16();

    bank.send(2, unlock(5));
    assert_eq!(bank.last_answer(), &Report::Ack);
    assert_eq!(bank.compartment(1, 5).unlock_pulses(), 1);
    assert_eq!(bank.compartment(0, 5).unlock_pulses(), 0);

    // The courier opens the door; only node 2 reports it, as commanded.
    bank.run_for(Duration::from_millis(200));
    bank.compartment(1, 5).open_door().unwrap();
    assert_eq!(
        bank.reported_by(2),
        [Event::DoorOpened {
            channel: Channel(5),
            commanded: true
        }]
    );
    assert!(bank.reported_by(1).is_empty());
    // Every node's receive reservation reached the shell to be stored.
    assert!(
        bank.stored
            .iter()
            .any(|(n, r)| *n == NodeAddr(2) && r.key.is_some())
    );
    assert!(bank.master_events.is_empty(), "{:?}", bank.master_events);
}

#[test]
fn a_door_pried_open_on_the_first_board_is_reported_forced_by_node_1() {
    let mut bank = Bank::two_cu16();

    bank.compartment(0, 9).force_door();
    assert_eq!(
        bank.reported_by(1),
        [Event::DoorOpened {
            channel: Channel(9),
            commanded: false
        }]
    );
    assert!(bank.reported_by(2).is_empty());
}

#[test]
fn a_cu48_is_two_nodes_of_24_channels_and_each_half_opens_its_own_locks() {
    let mut bank = Bank::new(
        SimCu48::cu48(0, Instant::ZERO),
        BoardModel::Cu48,
        &[1, 2],
        24,
    )
    .greeted();

    bank.send(2, Command::GetAllStatus);
    let Report::BulkStatus(upper) = bank.last_answer() else {
        panic!("{:?}", bank.last_answer())
    };
    assert_eq!(
        (upper.channels, upper.locked),
        (24, ChannelBits(0x00FF_FFFF))
    );

    bank.send(2, unlock(3));
    assert_eq!(bank.last_answer(), &Report::Ack);
    let board = bank.line.port_mut();
    assert_eq!(board.compartment(Channel(27)).unwrap().unlock_pulses(), 1);
    assert_eq!(board.compartment(Channel(3)).unwrap().unlock_pulses(), 0);

    // Node 1 has no channel 24: the bank cannot reach past its half.
    bank.send(1, unlock(24));
    assert_eq!(
        bank.last_answer(),
        &Report::Nack(NackReason::UnknownChannel)
    );
}

#[test]
fn a_frame_for_an_address_no_board_stands_for_goes_unanswered_as_on_a_bus() {
    let mut bank = Bank::new(
        SimRs485::new([cu16(0), cu16(1)]),
        BoardModel::Cu16,
        &[1],
        16,
    );
    // The gateway's layout has a node 2 the installer never put on the line.
    bank.master.add_node(NodeAddr(2), bank.now).unwrap();
    let before: u32 = (0..2)
        .map(|b| bank.line.port_mut().device(b).unwrap().requests())
        .sum();
    bank.send(2, Command::GetAllStatus);
    bank.run_for(Duration::from_secs(2));

    assert!(
        bank.master_events.iter().any(|e| matches!(
            e,
            MasterEvent::NodeLost {
                node: NodeAddr(2),
                ..
            }
        )),
        "{:?}",
        bank.master_events
    );
    assert!(bank.line.stats().no_board >= 3, "{:?}", bank.line.stats());
    // Node 1's polls reached board 0; board 1 heard nothing at all.
    assert_eq!(bank.line.port_mut().device(1).unwrap().requests(), 0);
    assert!(bank.line.port_mut().device(0).unwrap().requests() > before);
}

#[test]
fn a_board_that_lost_power_is_a_trouble_for_the_log_and_a_refusal_for_the_bank() {
    let mut bank = Bank::two_cu16();
    bank.line.port_mut().device_mut(1).unwrap().set_silent(true);

    bank.send(2, unlock(0));
    assert_eq!(bank.last_answer(), &Report::Nack(NackReason::Faulted));
    assert_eq!(bank.compartment(1, 0).unlock_pulses(), 0);
    let trouble = bank.line.poll_trouble().expect("the board error is logged");
    assert_eq!(trouble.node, NodeAddr(2));
    assert!(matches!(
        trouble.error,
        KerongError::Truncated { received: 0, .. }
    ));
    assert_eq!(bank.line.node(NodeAddr(2)).unwrap().stats().unanswered, 2);

    // Board 0 carries on untouched.
    bank.send(1, unlock(0));
    assert_eq!(bank.last_answer(), &Report::Ack);
}

#[test]
fn garbage_from_the_gateway_side_is_counted_and_never_answered() {
    let mut bank = Bank::two_cu16();
    bank.line
        .handle_transmit(&[0x13, 0x37, 0xFF, 0x00, 0x00], bank.now);
    assert_eq!(bank.line.stats().bad_frames, 1);
    assert!(bank.line.poll_answer().is_none());
}

#[test]
fn the_line_refuses_nodes_that_would_share_a_lock_or_do_not_fit_a_board() {
    let mut line = BoardLine::<_, 2, 4>::new(cu16(0), BoardNodeConfig::default());
    let board = BoardAddress::Cu16(Cu16Address::new(0).unwrap());
    let lower = BoardChannels {
        board,
        first: Channel(0),
        count: 8,
    };
    line.add_node(NodeAddr(1), lower, Instant::ZERO).unwrap();

    let overlapping = BoardChannels {
        first: Channel(7),
        ..lower
    };
    assert_eq!(
        line.add_node(NodeAddr(2), overlapping, Instant::ZERO)
            .map(|_| ()),
        Err(BoardLineError::Overlap {
            node: NodeAddr(2),
            other: NodeAddr(1)
        })
    );
    let past_the_end = BoardChannels {
        first: Channel(12),
        ..lower
    };
    assert!(matches!(
        line.add_node(NodeAddr(2), past_the_end, Instant::ZERO),
        Err(BoardLineError::Channels { most: 4, .. })
    ));
    assert!(matches!(
        line.add_node(
            NodeAddr(1),
            BoardChannels {
                first: Channel(8),
                ..lower
            },
            Instant::ZERO
        ),
        Err(BoardLineError::Address(NodeAddr(1)))
    ));
    assert!(matches!(
        line.add_node(
            NodeAddr::BROADCAST,
            BoardChannels {
                first: Channel(8),
                ..lower
            },
            Instant::ZERO
        ),
        Err(BoardLineError::Address(_))
    ));
    let upper = BoardChannels {
        first: Channel(8),
        ..lower
    };
    let node = line.add_node(NodeAddr(2), upper, Instant::ZERO).unwrap();
    assert_eq!(node.addr(), NodeAddr(2));
    assert!(matches!(
        line.add_node(NodeAddr(3), upper, Instant::ZERO),
        Err(BoardLineError::Overlap { .. } | BoardLineError::Full { .. })
    ));
    assert_eq!(
        BoardModel::Cu16.channels_of(NodeAddr(1), 17),
        Err(BoardLineError::Channels {
            node: NodeAddr(1),
            channels: 17,
            most: 16
        })
    );
    assert!(BoardModel::Cu48.channels_of(NodeAddr(0), 24).is_err());
    assert_eq!(
        BoardModel::Cu48
            .channels_of(NodeAddr(254), 24)
            .unwrap()
            .board,
        BoardAddress::Cu48(126)
    );
}
