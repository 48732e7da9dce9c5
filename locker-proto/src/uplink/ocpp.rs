//! The uplink next to OCPP 1.6's core profile, feature by feature.
//!
//! There is no open standard for parcel lockers; OCPP, between EV chargers
//! and their central systems, is the closest model: a device in the field,
//! an operator's backend, unreliable links, remote management. The uplink
//! keeps its shape (a message id on everything, every request answered by
//! a typed result or a typed error) and its core operations, and adds what
//! a locker needs. "CP" is OCPP's charge point (our gateway), "CS" its
//! central system (our backend).
//!
//! | OCPP 1.6 (core profile) | direction | uplink | notes |
//! |---|---|---|---|
//! | CALL / CALLRESULT / CALLERROR framing `[2, id, action, {…}]` | both | [`Envelope`](super::Envelope) `{v, id, body}`; [`CallResult`](super::CallResult) / [`CallError`](super::CallError) name the request's id | ids are numbers (epoch ‖ counter), not strings; a version in every envelope |
//! | — (WebSocket keeps order; lost calls are retried by the application) | both | [`Downward::Ack`](super::Downward::Ack) of every upward message, outbound queue, [`DedupWindow`](super::DedupWindow) | at least once and in order over any transport, nothing lost while offline, across a gateway restart too |
//! | BootNotification (CP → CS; CS answers interval and time) | up | [`Upward::BootNotification`](super::Upward::BootNotification) + [`Upward::Layout`](super::Upward::Layout) pages + [`Upward::NodeBoot`](super::Upward::NodeBoot) | adds bank id, layout, node firmware, the reset reason, the id of the reset request that caused it and the uplink versions the gateway speaks; acknowledged with [`Downward::BootAck`](super::Downward::BootAck), which carries the backend's versions, not answered (time comes from NTP) |
//! | Heartbeat | up | [`Upward::Heartbeat`](super::Upward::Heartbeat) | carries the outbound backlog instead of asking for the time |
//! | StatusNotification (per connector: Available, Preparing, Charging, Faulted…) | up | [`Upward::StatusNotification`](super::Upward::StatusNotification) per compartment | statuses of a parcel's life (free, reserved, depositing, stored, collecting, expired…), door, presence, out-of-service reason |
//! | Authorize (idTag at the charger) | — | — | codes are checked at the bank, offline: the backend sends a code hash or an offline token with [`Downward::AnnounceParcel`](super::Downward::AnnounceParcel) ahead of time (OCPP's Local Authorization List is the nearer match) |
//! | StartTransaction / StopTransaction | up | [`Upward::ParcelEvent`](super::Upward::ParcelEvent) | a parcel's life has more steps: reserved, deposited, reminded, escalated, expired, picked up, returned… |
//! | MeterValues | up | [`Upward::Statistics`](super::Upward::Statistics) | deposits, pickups, dwell time, utilisation |
//! | RemoteStartTransaction | down | [`Downward::ReserveCompartment`](super::Downward::ReserveCompartment), [`Downward::AnnounceParcel`](super::Downward::AnnounceParcel) | a transaction starts with a reservation; announce adds recipient, size, deadlines, credential |
//! | RemoteStopTransaction | down | [`Downward::CancelReservation`](super::Downward::CancelReservation) | |
//! | UnlockConnector | down | [`Downward::RemoteOpen`](super::Downward::RemoteOpen) | authenticated end to end with a MAC and a growing request id (OCPP relies on the transport alone) |
//! | ChangeAvailability (connector 0 = whole CP) | down | [`Downward::ChangeAvailability`](super::Downward::ChangeAvailability) with [`Scope`](super::Scope) | same semantics: one compartment out of service, or the bank takes no new parcels |
//! | Reset (Soft / Hard) | down | [`Downward::Reset`](super::Downward::Reset) with [`ResetTarget`](super::ResetTarget) | also one node over the bus; door sessions under way finish first, state is persisted, the boot notification names the request |
//! | ChangeConfiguration / GetConfiguration (key–value strings) | down | [`Downward::ChangeConfiguration`](super::Downward::ChangeConfiguration) / [`Downward::GetConfiguration`](super::Downward::GetConfiguration) | one typed [`PolicyConfig`](super::PolicyConfig) instead of string keys; `reboot_required` as OCPP's RebootRequired |
//! | ClearCache | — | — | no cache of credentials outside the bank's books |
//! | DataTransfer (vendor-specific) | — | — | not needed: every message is typed; new ones are appended to the enums |
//! | GetDiagnostics (firmware management profile: upload a log file) | down | [`Downward::GetDiagnostics`](super::Downward::GetDiagnostics) | returns versions, bus statistics and compartments out of service in the answer itself |
//! | TriggerMessage (remote trigger profile) | down | [`Downward::TriggerSnapshot`](super::Downward::TriggerSnapshot) | a camera snapshot of a compartment, named by the bank's reference in the `snapshot_requested` audit record |
//! | SecurityEventNotification (OCPP 2.0.1, security extension for 1.6) | up | [`Upward::SecurityEvent`](super::Upward::SecurityEvent) | forged tag, replay, rate limit, keypad lockout spike, forced door |
//! | — | up | [`Upward::Alert`](super::Upward::Alert) | staff alerts: lock fault, door ajar, no parcel detected, parcel left inside, sensor health, power, nodes |
//! | — | up | [`Upward::Notification`](super::Upward::Notification) | messages for couriers, recipients and staff, which the backend delivers |
//! | — | up | [`Upward::Audit`](super::Upward::Audit) | the bank's gap-free audit trail: the chain of custody |
//!
//! What OCPP has and the uplink does not need: charging profiles (smart
//! charging), firmware download (a Linux gateway updates through its
//! package manager), reservation of a connector for an idTag (our
//! reservation *is* the transaction's start).
