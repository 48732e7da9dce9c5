//! Starting a gateway: the books, the audit log, the counters and the
//! uplink's files are read before the serial port is opened.

use std::collections::VecDeque;

use locker_domain::bank::{Bank, Incarnation, SnapshotInfo, Witnesses};
use locker_proto::auth::NodeIdentity;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::clock::{os_seed, system_wall};
use super::{
    AuditLog, CounterFile, Gateway, GatewayConfig, GatewayCore, GatewayError, MAX_COMPARTMENTS,
    MonotonicClock, NodeLine, NodePower, Notice, SerialLine, StateFile, UplinkSettings,
    bank_layout, uplink,
};

impl Gateway {
    /// Restores the bank from the state file (or starts an empty bank if
    /// there is none), opens the audit log, then calls `connect` for the
    /// serial line: the port is opened only once the books are known good.
    /// [`Gateway::start_on`] takes Kerong boards instead of our bus.
    ///
    /// # Errors
    ///
    /// [`GatewayError::CorruptState`] (the file is left untouched),
    /// [`GatewayError::CorruptAudit`], [`GatewayError::Nodes`] and
    /// [`GatewayError::Layout`] for a bad node list, file errors, and
    /// whatever `connect` returns.
    pub fn start(
        config: GatewayConfig,
        connect: impl FnOnce() -> Result<SerialLine, GatewayError>,
    ) -> Result<Self, GatewayError> {
        Self::start_with_uplink(config, connect, None)
    }

    /// [`Gateway::start`] with an uplink to a backend through `transport`:
    /// the bank's notifications, alerts and audit records go up as well,
    /// the backend's requests come down (see [`crate::uplink`]). A policy
    /// the backend set with `change_configuration` replaces
    /// `config.policy`; the boot notification goes up first.
    ///
    /// # Errors
    ///
    /// As [`Gateway::start`], and file errors of the uplink's directory.
    pub fn start_with_uplink(
        config: GatewayConfig,
        connect: impl FnOnce() -> Result<SerialLine, GatewayError>,
        uplink: Option<(UplinkSettings, Box<dyn crate::uplink::Transport>)>,
    ) -> Result<Self, GatewayError> {
        Self::start_on(config, || connect().map(Into::into), uplink)
    }

    /// [`Gateway::start_with_uplink`] on any [`NodeLine`]: `connect` returns
    /// our bus ([`SerialLine`]) or Kerong boards standing in for our nodes
    /// ([`KerongLine`](super::KerongLine)), and the gateway drives either
    /// the same way.
    ///
    /// ```no_run
    /// use locker_drivers::kerong::BoardModel;
    /// use locker_examples::gateway::{Gateway, GatewayConfig, KerongLine, NodeLine, run_bus_key};
    /// use locker_domain::bank::{BankId, BankKeys};
    /// use locker_examples::secret::read_or_create_secret;
    /// use locker_proto::NodeAddr;
    ///
    /// let (secret, _) = read_or_create_secret("bank.secret".as_ref())?;
    /// let keys = BankKeys::derive(BankId(1), &secret);
    /// // Node 1 is the KR-CU16 at DIP address 0, with 16 compartments.
    /// let mut config = GatewayConfig::new(vec![NodeAddr(1)], 16, "bank.state", "audit.jsonl", keys);
    /// config.bus_key = Some(run_bus_key()?);
    /// let line_config = config.clone();
    /// let connect = || -> Result<Box<dyn NodeLine>, _> {
    ///     Ok(Box::new(KerongLine::open("/dev/ttyUSB0", 19_200, BoardModel::Cu16, &line_config)?))
    /// };
    /// let gateway = Gateway::start_on(config, connect, None)?;
    /// gateway.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Gateway::start_with_uplink`].
    pub fn start_on(
        mut config: GatewayConfig,
        connect: impl FnOnce() -> Result<Box<dyn NodeLine>, GatewayError>,
        uplink: Option<(UplinkSettings, Box<dyn crate::uplink::Transport>)>,
    ) -> Result<Self, GatewayError> {
        if let Some((settings, _)) = &uplink {
            config.policy = settings.stored_policy(&config.policy)?;
        }
        let clock = MonotonicClock::start();
        let now = clock.now();
        let layout = bank_layout(&config.nodes, config.channels)?;
        let state = StateFile::new(&config.state_path);
        let keys = config.bank_keys.clone();
        // Every file is read, and the state file compared with the others,
        // before anything is written.
        let witnesses = witnesses(&config, uplink.as_ref().map(|(s, _)| s.dir.as_path()))?;
        let rolled_back = |source| GatewayError::RolledBack {
            path: config.state_path.clone(),
            source,
        };
        let corrupt = |source| GatewayError::CorruptState {
            path: config.state_path.clone(),
            source,
        };
        let (mut bank, restored, begin) = match state.load()? {
            Some(bytes) => {
                let info = SnapshotInfo::read(&bytes).map_err(corrupt)?;
                let confirmed = match info.check(&witnesses) {
                    Ok(()) => false,
                    Err(e) if !config.new_incarnation => return Err(rolled_back(e)),
                    Err(_) => true,
                };
                let mut bank = Bank::on_heap(&layout, config.policy, keys)?;
                // Anchored before the restore, so its record carries wall time.
                if let Some(wall) = system_wall() {
                    bank.set_wall_clock(wall, now)?;
                }
                bank.restore(&bytes, now).map_err(corrupt)?;
                // A snapshot from before incarnations is bound to this life now.
                let unbound = bank.incarnation() == Incarnation::UNSET;
                (bank, true, confirmed || unbound)
            }
            None => {
                if let Err(e) = witnesses.check_no_snapshot()
                    && !config.new_incarnation
                {
                    return Err(rolled_back(e));
                }
                // A fresh bank always begins a life of its own.
                (Bank::on_heap(&layout, config.policy, keys)?, false, true)
            }
        };
        if begin {
            let current = bank.incarnation();
            let incarnation = fresh_incarnation(current)?;
            bank.begin_incarnation(incarnation, &witnesses, now)?;
        }
        // The bank never numbers its records back (a new life goes on after
        // the log's last one), so the log goes on in its epoch.
        let audit = AuditLog::open(&config.audit_path, true)?;
        let mut link = config.link;
        // A fresh salt per start keeps the bus challenges of this run apart
        // from every earlier run's, even if the counters file was lost.
        let salt = os_seed()?;
        for (s, r) in link.challenge_salt.iter_mut().zip(salt.iter()) {
            *s = *r;
        }
        let mut core = Box::new(GatewayCore::new(bank, link, now)?);
        let counters = CounterFile::open(&config.state_path)?;
        let counters_lost = restored && config.bus_key.is_some() && counters.is_empty();
        if let Some(bus_key) = &config.bus_key {
            for &node in &config.nodes {
                let key = bus_key.node_key(NodeIdentity::at(node));
                core.set_node_key(node, key, counters.stored(node))?;
            }
        }
        let seed = match config.code_seed {
            Some(seed) => seed,
            None => os_seed()?,
        };
        let mut line = connect()?;
        line.discard_pending_input()?;
        let mut gateway = Gateway {
            core,
            line,
            state,
            audit,
            counters,
            clock,
            rng: ChaCha20Rng::from_seed(seed),
            notices: if counters_lost {
                VecDeque::from([Notice::Warning(format!(
                    "the bus counters file beside {} is missing though the bank was restored: \
                     each node's counter is asked from the node before the first signed \
                     command (no provisioning needed); find out how the file was lost",
                    config.state_path.display()
                ))])
            } else {
                VecDeque::new()
            },
            snapshot_buf: vec![0; MAX_COMPARTMENTS * 120 + 48 * 1024],
            persisted: 0,
            wall_anchored: None,
            restored,
            stopping: false,
            uplink: None,
            reboot: None,
            node_power: config.node_power_command.clone().map(NodePower::new),
        };
        gateway.anchor_wall_clock(now)?;
        if let Some((settings, transport)) = uplink {
            let (glue, bridge, reason) =
                uplink::UplinkGlue::open(&settings, transport, now, &mut gateway.notices)?;
            gateway.uplink = Some(glue);
            gateway.core.start_uplink(bridge, reason, now)?;
        }
        // Persist at once: a first start creates the state file, a restore
        // writes down the `Restored` record before anything else happens.
        gateway.persist()?;
        gateway.carry_out(now)?;
        Ok(gateway)
    }
}

/// What the gateway's other files say about the bank's past: the audit
/// log's last record, the uplink's audit mark (in `uplink_dir`), and
/// whether a bus counters file exists. Reads only.
fn witnesses(
    config: &GatewayConfig,
    uplink_dir: Option<&std::path::Path>,
) -> Result<Witnesses, GatewayError> {
    let uplink_audit_next = match uplink_dir {
        Some(dir) => uplink::peek_audit_next(dir)?,
        None => None,
    };
    Ok(Witnesses {
        audit_log: AuditLog::peek_tail(&config.audit_path)?,
        uplink_audit_next,
        other_files: !CounterFile::open(&config.state_path)?.is_empty(),
    })
}

/// A random incarnation, never the current one nor [`Incarnation::UNSET`].
fn fresh_incarnation(current: Incarnation) -> Result<Incarnation, GatewayError> {
    let seed = os_seed()?;
    let candidates = seed
        .chunks_exact(4)
        .map(|c| Incarnation(u32::from_le_bytes(c.try_into().unwrap_or_default())));
    for candidate in candidates {
        if candidate != current && candidate != Incarnation::UNSET {
            return Ok(candidate);
        }
    }
    // Eight draws of 32 random bits all equal to one of two values: the
    // randomness source is broken.
    Err(GatewayError::file(
        "cannot draw a new incarnation from",
        std::path::Path::new("/dev/urandom"),
        std::io::Error::other("the randomness repeats itself"),
    ))
}
