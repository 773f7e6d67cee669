//! Handling of Credit-Control-Answers.
// The code generator boxes large optional grouped members (and may change which), so
// values go in with `.into()` and come out through deref coercion.
#![allow(
    clippy::useless_conversion,
    clippy::redundant_closure,
    clippy::useless_asref
)]

use super::quota::{granted_units, PoolShare, Quota, ServiceKey};
use super::{CcSession, ClientEvent, State};
use diameter::dict::base_rfc6733::result_code as base_rc;
use diameter::dict::dcca_rfc4006::{
    result_code as dcca_rc, Cca, CreditControlFailureHandling as Ccfh,
    DirectDebitingFailureHandling as Ddfh, FinalUnitIndication, RequestedAction,
};
use std::time::{Duration, Instant};

fn success(code: u32) -> bool {
    (2000..3000).contains(&code)
}

/// Protocol errors after which the request may go to another server (RFC 4006 §5.5).
fn temporary(code: u32) -> bool {
    code == base_rc::DIAMETER_UNABLE_TO_DELIVER || code == base_rc::DIAMETER_TOO_BUSY
}

impl CcSession {
    /// An answer arrived. Answers that do not match the outstanding request's
    /// CC-Request-Number (late or duplicate) are ignored.
    pub fn on_cca(&mut self, cca: &Cca, now: Instant) {
        let matches = self.pending.as_ref().is_some_and(|p| {
            p.ccr.cc_request_number == cca.cc_request_number
                && cca.session_id.as_str() == self.session_id
        });
        if !matches {
            return;
        }
        if let Some(v) = cca.credit_control_failure_handling {
            self.ccfh = v;
        }
        if let Some(v) = cca.direct_debiting_failure_handling {
            self.ddfh = v;
        }
        if let Some(v) = cca.cc_session_failover {
            self.failover = v;
        }
        let rc = cca.result_code;
        if temporary(rc) {
            self.on_failure(now);
            return;
        }
        self.pending = None;
        match self.state {
            State::PendingI | State::PendingU => self.session_answer(cca, now),
            State::PendingT => self.close(),
            State::PendingE => self.event_answer(cca),
            _ => {}
        }
    }

    fn session_answer(&mut self, cca: &Cca, now: Instant) {
        let rc = cca.result_code;
        let initial = self.state == State::PendingI;
        if !success(rc) {
            let terminate = rc == dcca_rc::DIAMETER_END_USER_SERVICE_DENIED
                || rc == dcca_rc::DIAMETER_USER_UNKNOWN
                || rc == dcca_rc::DIAMETER_CREDIT_LIMIT_REACHED
                || rc == dcca_rc::DIAMETER_RATING_FAILED;
            self.state = State::Idle;
            self.quotas.clear();
            let grant = rc == dcca_rc::DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE
                || (!terminate && self.ccfh == Ccfh::Continue);
            self.emit(if grant {
                ClientEvent::GrantService
            } else {
                ClientEvent::TerminateService {
                    result_code: Some(rc),
                }
            });
            self.emit(ClientEvent::Closed);
            return;
        }
        self.state = State::Open;
        let mut granted_any = false;
        let thresholds = |m: &diameter::dict::dcca_rfc4006::MultipleServicesCreditControl| {
            (
                m.time_quota_threshold,
                m.volume_quota_threshold,
                m.unit_quota_threshold,
            )
        };
        for m in &cca.multiple_services_credit_control {
            let key = ServiceKey::of(m);
            let code = m.result_code.unwrap_or(rc);
            if !success(code) {
                self.quotas.remove(&key);
                self.emit(ClientEvent::Denied {
                    service: key,
                    result_code: code,
                });
                continue;
            }
            let Some(gsu) = &m.granted_service_unit else {
                self.restriction_validity(key, m.validity_time.or(cca.validity_time), now);
                continue;
            };
            let mut q = Quota::from_grant(
                Some(gsu),
                m.validity_time.or(cca.validity_time),
                m.final_unit_indication
                    .as_ref()
                    .map(|f| FinalUnitIndication::clone(f)),
                thresholds(m),
                now,
            );
            q.holding_time = m
                .quota_holding_time
                .map(|s| Duration::from_secs(u64::from(s)));
            q.pools = m
                .g_s_u_pool_reference
                .iter()
                .map(|p| p.g_s_u_pool_identifier)
                .collect();
            q.pool_shares = m.g_s_u_pool_reference.iter().map(PoolShare::of).collect();
            q.tariff_change = self.on_session_clock(gsu.tariff_time_change, now);
            q.consumption_time = m
                .quota_consumption_time
                .map(|s| Duration::from_secs(u64::from(s)));
            q.triggers = m
                .trigger
                .as_ref()
                .map(|t| t.trigger_type.to_vec())
                .unwrap_or_default();
            // Usage since the request was built counts against the new grant.
            if let Some(old) = self.quotas.get(&key) {
                q.used = old.used;
                q.used_money = old.used_money.clone();
                q.last_activity = old.last_activity;
                self.lift_final_action(key, old.final_action_taken);
            }
            granted_any = true;
            self.emit(ClientEvent::Granted {
                service: key,
                units: granted_units(gsu),
                final_units: q.final_unit.is_some(),
            });
            self.quotas.insert(key, q);
        }
        if cca.granted_service_unit.is_none() {
            self.restriction_validity(ServiceKey::default(), cca.validity_time, now);
        }
        if let Some(gsu) = &cca.granted_service_unit {
            let key = ServiceKey::default();
            let was_final = self.quotas.get(&key).is_some_and(|q| q.final_action_taken);
            self.lift_final_action(key, was_final);
            let mut q = Quota::from_grant(
                Some(gsu),
                cca.validity_time,
                cca.final_unit_indication
                    .as_ref()
                    .map(|f| FinalUnitIndication::clone(f)),
                (None, None, None),
                now,
            );
            q.tariff_change = self.on_session_clock(gsu.tariff_time_change, now);
            granted_any = true;
            self.emit(ClientEvent::Granted {
                service: key,
                units: granted_units(gsu),
                final_units: q.final_unit.is_some(),
            });
            self.quotas.insert(key, q);
        }
        if initial && granted_any {
            self.emit(ClientEvent::GrantService);
        }
        if self.terminate_queued.is_some() {
            self.send_new(State::PendingT, now);
        } else if self.update_queued || self.quotas.values().any(|q| q.update_due) {
            self.send_new(State::PendingU, now);
        }
    }

    /// An answer without a grant for a service whose final-unit action is in force: its
    /// Validity-Time says when to ask again (RFC 8506 §5.6.2).
    fn restriction_validity(&mut self, key: ServiceKey, validity: Option<u32>, now: Instant) {
        if let (Some(q), Some(v)) = (self.quotas.get_mut(&key), validity) {
            if q.final_action_taken {
                q.valid_until = Some(now + Duration::from_secs(u64::from(v)));
            }
        }
    }

    /// A Tariff-Time-Change on the session's clock (see [`CcSession::set_wall_clock`]);
    /// one already past is placed at `now`.
    fn on_session_clock(&self, at: Option<diameter_core::Time>, now: Instant) -> Option<Instant> {
        let (anchor, wall) = self.wall_clock?;
        let at = at?.to_system_time();
        let wall_now = wall + now.saturating_duration_since(anchor);
        Some(match at.duration_since(wall_now) {
            Ok(ahead) => now.checked_add(ahead)?,
            Err(_) => now,
        })
    }

    /// A new grant replaces a quota whose final-unit action was in force: lift it.
    fn lift_final_action(&mut self, key: ServiceKey, was_final: bool) {
        if was_final {
            self.emit(ClientEvent::FinalUnitActionEnded { service: key });
        }
    }

    fn event_answer(&mut self, cca: &Cca) {
        self.state = State::Idle;
        let rc = cca.result_code;
        self.emit(ClientEvent::EventAnswer(Box::new(cca.clone())));
        let action = self.event_action.unwrap_or(RequestedAction::DirectDebiting);
        if action != RequestedAction::DirectDebiting {
            if !success(rc) {
                self.emit(ClientEvent::ServiceError);
            }
            return;
        }
        if success(rc) || rc == dcca_rc::DIAMETER_CREDIT_CONTROL_NOT_APPLICABLE {
            self.emit(ClientEvent::GrantService);
        } else if rc == dcca_rc::DIAMETER_END_USER_SERVICE_DENIED
            || rc == dcca_rc::DIAMETER_USER_UNKNOWN
            || self.ddfh == Ddfh::TerminateOrBuffer
        {
            self.emit(ClientEvent::TerminateService {
                result_code: Some(rc),
            });
        } else {
            self.emit(ClientEvent::GrantService);
        }
    }
}
