//! Carrying out the backend's requests.

use locker_proto::time::Instant;
use locker_proto::uplink::{
    self as wire, Description, Downward, ErrorCode, MessageId, ParcelNumber, ResetTarget, Response,
    Scope,
};
use rand_core::RngCore;

use super::convert::{self, describe};
use super::state::Extension;
use super::{
    ACTION_QUEUE, GatewayAction, GatewayReset, NodeReset, ResetPhase, Uplink, UplinkError,
};
use crate::bank::codes::CodeHash;
use crate::bank::{Actor, Bank, BankError};

/// A request's answer, or the error it is refused with.
pub(super) type Outcome = Result<Response, (ErrorCode, Description)>;

fn refused(code: ErrorCode, why: &str) -> Outcome {
    Err((code, describe(why)))
}

impl Uplink {
    /// Carries out one request. `Err` means "not carried out, call again";
    /// `Ok(Err(..))` is a refusal to send to the backend.
    pub(super) fn execute<R: RngCore + ?Sized>(
        &mut self,
        bank: &mut Bank<'_>,
        id: MessageId,
        request: &Downward,
        rng: &mut R,
        now: Instant,
    ) -> Result<Outcome, UplinkError> {
        let now = now.max(bank.now());
        let outcome = match request {
            Downward::Ack(_) | Downward::BootAck { .. } => {
                return Ok(refused(ErrorCode::NotSupported, "an ack is not a request"));
            }
            Downward::ReserveCompartment(r) => self.reserve(bank, r.kind, r.needs, None, rng, now),
            Downward::AnnounceParcel(a) => self.reserve(bank, a.kind, a.needs, Some(a), rng, now),
            Downward::CancelReservation { compartment } => bank
                .cancel_reservation(*compartment, Actor::Backend, now)
                .map(|()| Response::ReservationCancelled {
                    compartment: *compartment,
                })
                .map_err(Into::into),
            Downward::ExtendDeadline { compartment, by_ms } => bank
                .extend_deadline(*compartment, *by_ms, Actor::Backend, now)
                .map(|()| Response::DeadlineExtended {
                    compartment: *compartment,
                })
                .map_err(Into::into),
            Downward::RemoteOpen(open) => self.remote_open(bank, open, now),
            Downward::ChangeAvailability { scope, available } => {
                self.change_availability(bank, *scope, *available, now)
            }
            Downward::Reset { kind, target } => lift(self.reset(bank, id, *kind, *target, now)),
            Downward::ChangeConfiguration(config) => lift(self.change_configuration(bank, config)),
            Downward::GetConfiguration => Ok(Response::Configuration(convert::policy_config(
                bank.policy(),
            ))),
            Downward::TriggerSnapshot { compartment } => {
                lift(self.trigger_snapshot(bank, id, *compartment))
            }
            Downward::GetDiagnostics => Ok(Response::Diagnostics(self.diagnostics(bank))),
            Downward::RecalibrateSensor { compartment } => bank
                .recalibrate_remotely(*compartment, now)
                .map(|()| Response::SensorRecalibrating {
                    compartment: *compartment,
                })
                .map_err(Into::into),
            _ => {
                return Ok(refused(
                    ErrorCode::NotSupported,
                    "this gateway does not know the request",
                ));
            }
        };
        match outcome {
            Ok(response) => Ok(Ok(response)),
            Err(Refusal::Bank(BankError::OutputsPending)) => Err(UplinkError::BankBusy),
            Err(Refusal::Bank(e)) => Ok(Err((convert::error_code(&e), describe(e)))),
            Err(Refusal::Error(e)) => Ok(Err(e)),
        }
    }

    fn refusal(&self) -> Option<Outcome> {
        if self.reset.is_some() {
            return Some(refused(
                ErrorCode::ResetInProgress,
                "the gateway is resetting: try again after its boot notification",
            ));
        }
        if self.state.unavailable {
            return Some(refused(
                ErrorCode::Unavailable,
                "the bank was made unavailable: make it available first",
            ));
        }
        if self.backlog_full {
            return Some(refused(
                ErrorCode::Busy,
                "the gateway's outbound queue is full: it takes new parcels again once the \
                 backend has acknowledged its backlog",
            ));
        }
        None
    }

    fn reserve<R: RngCore + ?Sized>(
        &mut self,
        bank: &mut Bank<'_>,
        kind: wire::ParcelKind,
        needs: wire::ParcelNeeds,
        announce: Option<&wire::AnnounceParcel>,
        rng: &mut R,
        now: Instant,
    ) -> Result<Response, Refusal> {
        if let Some(refusal) = self.refusal() {
            return lift(refusal);
        }
        let Some(needs) = convert::needs(needs) else {
            return lift(refused(
                ErrorCode::FormationViolation,
                "give the parcel's size or its dimensions",
            ));
        };
        let extra = announce.map(|a| a.deadlines.extra_pickup_ms);
        let wants_extension = extra.is_some_and(|e| e.as_millis() > 0);
        if wants_extension && self.state.extensions.is_full() {
            return lift(refused(
                ErrorCode::Busy,
                "too many announced parcels wait for their deposit with extra time: retry later",
            ));
        }
        let reservation = match announce.map(|a| &a.credential) {
            Some(wire::Credential::CodeHash(hash)) => {
                bank.reserve_with_code_hash(needs, kind, CodeHash::from_bytes(hash.0), now)?
            }
            // An offline token is checked against the token key when it is
            // presented; the keypad code the bank draws is the fallback.
            _ => bank.reserve(needs, kind, rng, now)?,
        };
        let parcel = ParcelNumber(reservation.parcel.0);
        let pickup_code = reservation.code.as_ref().map(convert::code_text);
        if announce.is_none() {
            return Ok(Response::Reserved {
                compartment: reservation.compartment,
                parcel,
                pickup_code,
            });
        }
        if let (true, Some(extra)) = (wants_extension, extra) {
            // Room was checked above.
            let _ = self.state.extensions.push(Extension {
                parcel,
                extra,
                deposited: None,
            });
        }
        Ok(Response::ParcelAnnounced {
            compartment: reservation.compartment,
            parcel,
            pickup_code,
        })
    }

    fn remote_open(
        &mut self,
        bank: &mut Bank<'_>,
        open: &wire::RemoteOpen,
        now: Instant,
    ) -> Result<Response, Refusal> {
        if self.reset.is_some() {
            return lift(refused(
                ErrorCode::ResetInProgress,
                "the gateway is resetting: try again after its boot notification",
            ));
        }
        let node = bank
            .layout()
            .slot_of(open.compartment)
            .and_then(|i| bank.layout().get(i))
            .map(|c| c.node);
        if node.is_some_and(|n| self.node_draining(n)) {
            return lift(refused(
                ErrorCode::ResetInProgress,
                "the compartment's node is about to restart: try again after its node_boot",
            ));
        }
        // The bank checks the tag, the request id and its rate limit.
        let request = crate::bank::RemoteOpen {
            incarnation: crate::bank::Incarnation(open.incarnation),
            compartment: open.compartment,
            request_id: open.request_id,
            tag: open.tag.0,
        };
        bank.remote_open(&request, now)?;
        Ok(Response::Opening {
            compartment: open.compartment,
            request_id: open.request_id,
        })
    }

    fn change_availability(
        &mut self,
        bank: &mut Bank<'_>,
        scope: Scope,
        available: bool,
        now: Instant,
    ) -> Result<Response, Refusal> {
        match scope {
            Scope::Bank => {
                if self.state.unavailable == available {
                    self.state.unavailable = !available;
                    self.persist = true;
                }
            }
            Scope::Compartment(c) if available => bank.set_in_service(c, Actor::Backend, now)?,
            Scope::Compartment(c) => bank.set_out_of_service(c, Actor::Backend, now)?,
        }
        Ok(Response::AvailabilityChanged { scope, available })
    }

    fn reset(
        &mut self,
        bank: &Bank<'_>,
        request: MessageId,
        kind: locker_proto::RebootKind,
        target: ResetTarget,
        now: Instant,
    ) -> Outcome {
        let until = now + self.config.drain_limit;
        match target {
            ResetTarget::Gateway => {
                if self.reset.is_none() {
                    self.reset = Some(GatewayReset {
                        request,
                        kind,
                        phase: ResetPhase::Draining { until },
                    });
                }
                let in_flight = Self::door_sessions(bank, None);
                Ok(Response::ResetAccepted { target, in_flight })
            }
            ResetTarget::Node(node) => {
                if bank.layout().slots_on(node).next().is_none() {
                    return refused(
                        ErrorCode::UnknownNode,
                        "no compartment of this bank is on that node",
                    );
                }
                if self.node_draining(node) {
                    return refused(
                        ErrorCode::ResetInProgress,
                        "that node is already being reset",
                    );
                }
                let job = NodeReset {
                    request,
                    node,
                    kind,
                    until: Some(until),
                };
                if self.node_resets.push(job).is_err() {
                    return refused(
                        ErrorCode::Busy,
                        "too many node resets under way: retry later",
                    );
                }
                let in_flight = Self::door_sessions(bank, Some(node));
                Ok(Response::ResetAccepted { target, in_flight })
            }
        }
    }

    fn change_configuration(&mut self, bank: &Bank<'_>, config: &wire::PolicyConfig) -> Outcome {
        let policy = super::policy_from_config(bank.policy(), config)
            .map_err(|why| (ErrorCode::InvalidConfiguration, describe(why.0)))?;
        // The caller checked there is room for one action.
        let _ = self.actions.push_back(GatewayAction::ApplyPolicy(policy));
        Ok(Response::ConfigurationChanged {
            reboot_required: false,
        })
    }

    fn trigger_snapshot(
        &mut self,
        bank: &Bank<'_>,
        request: MessageId,
        compartment: locker_proto::CompartmentId,
    ) -> Outcome {
        if bank.layout().slot_of(compartment).is_none() {
            return refused(
                ErrorCode::UnknownCompartment,
                "no compartment has this number",
            );
        }
        if self.actions.len() >= ACTION_QUEUE {
            return refused(ErrorCode::Busy, "the gateway is busy: retry later");
        }
        let _ = self.actions.push_back(GatewayAction::TakeSnapshot {
            compartment,
            request,
        });
        Ok(Response::SnapshotScheduled { compartment })
    }

    fn diagnostics(&self, bank: &Bank<'_>) -> wire::Diagnostics {
        let mut out_of_service = heapless::Vec::new();
        let mut total = 0u16;
        for view in bank.views() {
            if let Some(reason) = view.out_of_service {
                total = total.saturating_add(1);
                let _ = out_of_service.push(wire::OutOfService {
                    compartment: view.id,
                    reason,
                });
            }
        }
        wire::Diagnostics {
            gateway_firmware: self.config.gateway_firmware,
            nodes: self.state.nodes.clone(),
            bus: self.bus,
            out_of_service,
            out_of_service_total: total,
            sensor_health_alerts: bank.stats().alerts_of(crate::bank::AlertKind::Maintenance),
            backlog: self.backlog,
            duplicates_ignored: self.stats.duplicates,
            forged_refused: self.stats.forged,
        }
    }
}

/// Why a request was not carried out.
pub(super) enum Refusal {
    Bank(BankError),
    Error((ErrorCode, Description)),
}

fn lift(outcome: Outcome) -> Result<Response, Refusal> {
    outcome.map_err(Refusal::Error)
}

impl From<BankError> for Refusal {
    fn from(e: BankError) -> Self {
        Refusal::Bank(e)
    }
}
