//! Building and sending CCRs; Tx expiry, failures and failover.
// The code generator boxes large optional grouped members (and may change which), so
// values go in with `.into()` and come out through deref coercion.
#![allow(
    clippy::useless_conversion,
    clippy::redundant_closure,
    clippy::useless_asref
)]

use super::{CcSession, ClientEvent, Output, Pending, Request, State};
use crate::ocs::rating::Units;
use diameter::dict::dcca_rfc4006::{
    CcRequestType, CcSessionFailover, Ccr, CreditControlFailureHandling as Ccfh,
    DirectDebitingFailureHandling as Ddfh, MultipleServicesCreditControl,
    MultipleServicesIndicator, RequestedAction, RequestedServiceUnit, TariffChangeUsage,
    UsedServiceUnit,
};
use diameter::dict::tgpp_ts32299::ReportingReason;
use std::time::Instant;

fn rsu(u: Option<Units>) -> RequestedServiceUnit {
    let u = u.unwrap_or_default();
    RequestedServiceUnit {
        cc_time: u.time.map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
        cc_total_octets: u.total_octets,
        cc_input_octets: u.input_octets,
        cc_output_octets: u.output_octets,
        cc_service_specific_units: u.service_specific,
        ..Default::default()
    }
}

fn usu(u: &Units) -> UsedServiceUnit {
    UsedServiceUnit {
        cc_time: u.time.map(|t| u32::try_from(t).unwrap_or(u32::MAX)),
        cc_total_octets: u.total_octets,
        cc_input_octets: u.input_octets,
        cc_output_octets: u.output_octets,
        cc_service_specific_units: u.service_specific,
        ..Default::default()
    }
}

/// The Used-Service-Units of a quota's report: one, or with a tariff change the units
/// before it and those after it apart (Tariff-Change-Usage, RFC 8506 §5.1.1); the money
/// used goes in the first.
fn used_units(q: &super::Quota) -> Vec<UsedServiceUnit> {
    let mut out = match q.tariff_change {
        None => vec![usu(&q.used)],
        Some(_) => {
            let mut before = usu(&super::quota::minus(&q.used, &q.used_after));
            before.tariff_change_usage = Some(TariffChangeUsage::UnitBeforeTariffChange);
            let mut out = vec![before];
            if !q.used_after.is_empty() {
                let mut after = usu(&q.used_after);
                after.tariff_change_usage = Some(TariffChangeUsage::UnitAfterTariffChange);
                out.push(after);
            }
            out
        }
    };
    if let Some(first) = out.first_mut() {
        first.cc_money = q.used_money.clone().map(Into::into);
    }
    out
}

impl CcSession {
    /// Builds the next request of `state`'s kind, numbers it, and sends it.
    pub(super) fn send_new(&mut self, state: State, now: Instant) {
        let kind = match state {
            State::PendingI => CcRequestType::InitialRequest,
            State::PendingU => CcRequestType::UpdateRequest,
            State::PendingT => CcRequestType::TerminationRequest,
            _ => CcRequestType::EventRequest,
        };
        let ccr = self.build(kind);
        self.next_number = self.next_number.wrapping_add(1);
        self.state = state;
        self.update_queued = false;
        self.transmit(ccr, false, now);
    }

    fn transmit(&mut self, ccr: Ccr, retransmit: bool, now: Instant) {
        self.pending = Some(Pending {
            ccr: ccr.clone(),
            tx_deadline: now + self.config.tx,
            timeout: now + self.config.request_timeout.max(self.config.tx),
            tx_fired: false,
            failed_over: retransmit,
        });
        self.outputs.push_back(Output::Send(Request {
            ccr,
            destination_host: self.destination_host.clone(),
            retransmit,
        }));
    }

    fn build(&mut self, kind: CcRequestType) -> Ccr {
        let c = &self.config;
        let mut ccr = Ccr {
            session_id: self.session_id.as_str().into(),
            origin_host: c.origin_host.as_str().into(),
            origin_realm: c.origin_realm.as_str().into(),
            destination_realm: c.destination_realm.as_str().into(),
            destination_host: self.destination_host.as_deref().map(Into::into),
            auth_application_id: crate::ocs::server::CREDIT_CONTROL_APPLICATION_ID,
            service_context_id: c.service_context_id.as_str().into(),
            cc_request_type: kind,
            cc_request_number: self.next_number,
            subscription_id: c.subscription_id.clone().into(),
            requested_action: self.event_action,
            ..Default::default()
        };
        let wanted = std::mem::take(&mut self.wanted);
        let mut msccs = Vec::new();
        let mut released = Vec::new();
        if kind != CcRequestType::InitialRequest && kind != CcRequestType::EventRequest {
            for (key, q) in self.quotas.iter_mut() {
                let report = kind == CcRequestType::TerminationRequest || q.update_due;
                if !report {
                    continue;
                }
                let mut m = MultipleServicesCreditControl {
                    rating_group: key.rating_group,
                    service_identifier: key.service_identifier.into_iter().collect(),
                    ..Default::default()
                };
                let reason = match kind {
                    CcRequestType::TerminationRequest => Some(ReportingReason::Final),
                    _ => q.reason.take(),
                };
                let reported = !q.used.is_empty() || q.used_money.is_some();
                if reported || kind == CcRequestType::TerminationRequest {
                    m.used_service_unit = used_units(q).into();
                }
                // TS 32.299 §7.2.175: a reason of one quota type goes in its
                // Used-Service-Unit, the others in the MSCC.
                let written = reason.filter(|_| self.config.reporting_reasons);
                match (written, m.used_service_unit.first_mut()) {
                    (
                        Some(r @ (ReportingReason::Threshold | ReportingReason::QuotaExhausted)),
                        Some(u),
                    ) => u.reporting_reason = Some(r),
                    (Some(r), _) => m.reporting_reason.push(r),
                    (None, _) => {}
                }
                // An idle quota (Quota-Holding-Time) is reported and released, not renewed.
                let idle = reason == Some(ReportingReason::Qht);
                if idle {
                    released.push(*key);
                }
                // After the final units, the first report asks for nothing (RFC 8506
                // §5.6.2); later ones (Validity-Time expired, RAR) ask for units again.
                let final_report = q.final_unit.is_some() && !q.final_reported;
                if kind == CcRequestType::UpdateRequest && !final_report && !idle {
                    let r = RequestedServiceUnit {
                        cc_money: self.money_requests.get(key).cloned().map(Into::into),
                        ..Default::default()
                    };
                    m.requested_service_unit = Some(r.into());
                }
                if kind == CcRequestType::UpdateRequest && q.final_action_taken {
                    q.final_reported = true;
                }
                q.used = Units::default();
                q.used_after = Units::default();
                q.used_money = None;
                q.update_due = false;
                msccs.push(m);
            }
        }
        for key in released {
            self.quotas.remove(&key);
        }
        if kind != CcRequestType::TerminationRequest {
            for (key, units) in wanted {
                let mut r = rsu(units);
                r.cc_money = self.money_requests.get(&key).cloned().map(Into::into);
                if key == Default::default() {
                    ccr.requested_service_unit = Some(r.into());
                    continue;
                }
                msccs.retain(|m| m.rating_group != key.rating_group);
                msccs.push(MultipleServicesCreditControl {
                    rating_group: key.rating_group,
                    service_identifier: key.service_identifier.into_iter().collect(),
                    requested_service_unit: Some(r.into()),
                    ..Default::default()
                });
            }
        }
        if kind == CcRequestType::InitialRequest
            && msccs.is_empty()
            && ccr.requested_service_unit.is_none()
        {
            ccr.requested_service_unit = Some(RequestedServiceUnit::default().into());
        }
        if kind == CcRequestType::TerminationRequest {
            ccr.termination_cause = self.terminate_queued.take();
        }
        // RFC 8506 §5.1.2: the first interrogation of a client using MSCC says so.
        if !msccs.is_empty()
            && matches!(
                kind,
                CcRequestType::InitialRequest | CcRequestType::EventRequest
            )
        {
            ccr.multiple_services_indicator =
                Some(MultipleServicesIndicator::MultipleServicesSupported);
        }
        ccr.multiple_services_credit_control = msccs.into();
        ccr
    }

    /// Tx expired for the outstanding request (RFC 4006 §7 tables).
    pub(super) fn tx_expired(&mut self, now: Instant) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        p.tx_fired = true;
        match self.state {
            State::PendingI | State::PendingU => {
                if self.ccfh == Ccfh::Terminate {
                    self.give_up(Some(false));
                } else {
                    // Grant the service and wait for a late answer until the request times out.
                    self.emit(ClientEvent::GrantService);
                }
            }
            State::PendingT => {
                self.pending = None;
                self.close();
            }
            State::PendingE => match self.event_action {
                Some(RequestedAction::DirectDebiting) | None => {
                    self.emit(ClientEvent::GrantService);
                }
                Some(RequestedAction::RefundAccount) => self.store_request(),
                _ => {
                    self.pending = None;
                    self.state = State::Idle;
                    self.emit(ClientEvent::ServiceError);
                }
            },
            _ => {}
        }
        let _ = now;
    }

    /// The outstanding request could not be sent, got a temporary error (3002 / 3004), or
    /// timed out after Tx: fail over to the alternate server when allowed, else apply the
    /// failure handling.
    pub fn on_failure(&mut self, now: Instant) {
        let Some(p) = self.pending.take() else {
            return;
        };
        // RFC 4006 §5.5: move only with FAILOVER_SUPPORTED, or for a new session.
        let may_move = self.failover == CcSessionFailover::FailoverSupported
            || matches!(self.state, State::PendingI | State::PendingE);
        let alternate = self.config.alternate_host.clone();
        let failover_ok = may_move && !p.failed_over && !self.failed_over && alternate.is_some();
        if let (true, Some(to)) = (failover_ok, alternate) {
            self.failed_over = true;
            self.destination_host = Some(to.clone());
            let mut ccr = p.ccr;
            ccr.destination_host = Some(to.as_str().into());
            self.emit(ClientEvent::FailedOver { to });
            self.transmit(ccr, true, now);
            return;
        }
        self.pending = Some(p);
        match self.state {
            State::PendingI | State::PendingU => self.give_up(None),
            State::PendingT => {
                self.pending = None;
                self.close();
            }
            State::PendingE => match self.event_action {
                Some(RequestedAction::DirectDebiting) | None => {
                    if self.ddfh == Ddfh::Continue {
                        self.pending = None;
                        self.state = State::Idle;
                        self.emit(ClientEvent::GrantService);
                    } else {
                        self.store_request();
                    }
                }
                Some(RequestedAction::RefundAccount) => self.store_request(),
                _ => {
                    self.pending = None;
                    self.state = State::Idle;
                    self.emit(ClientEvent::ServiceError);
                }
            },
            _ => self.pending = None,
        }
    }

    /// Ends credit control after a failure: the service continues (CONTINUE) or ends.
    /// `Some(false)` forces termination.
    pub(super) fn give_up(&mut self, force: Option<bool>) {
        self.pending = None;
        self.state = State::Idle;
        self.quotas.clear();
        let grant = force.unwrap_or(self.ccfh == Ccfh::Continue);
        self.emit(if grant {
            ClientEvent::GrantService
        } else {
            ClientEvent::TerminateService { result_code: None }
        });
        self.emit(ClientEvent::Closed);
    }

    fn store_request(&mut self) {
        if let Some(p) = self.pending.take() {
            self.emit(ClientEvent::Stored(Box::new(p.ccr)));
        }
        self.state = State::Idle;
    }

    pub(super) fn close(&mut self) {
        self.state = State::Idle;
        self.quotas.clear();
        self.emit(ClientEvent::Closed);
    }
}
