//! Session charging (CCR-INITIAL, UPDATE, TERMINATION) and the per-service items shared with
//! event charging.
// The code generator boxes large optional grouped members (and may change which), so
// values go in with `.into()` and come out through deref coercion.
#![allow(
    clippy::useless_conversion,
    clippy::redundant_closure,
    clippy::useless_asref
)]

use super::convert::{final_unit_indication, granted, requested, used};
use super::{request_key, ChargingServer, Mode};
use crate::ocs::rating::{Tariff, Units};
use crate::ocs::store::{Batch, BatchOutcome, Op, StoreError};
use diameter::dict::base_rfc6733::result_code as base_rc;
use diameter::dict::dcca_rfc4006::{
    result_code as dcca_rc, CcRequestType, Cca, Ccr, FinalUnitIndication, GrantedServiceUnit,
    MultipleServicesCreditControl,
};
use diameter_core::bytes::Bytes;

/// One service of a request: an MSCC, or the command-level units when there is no MSCC.
pub(super) struct Item<'t> {
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    /// Requested-Service-Unit, when present.
    pub requested: Option<Units>,
    /// Sum of the Used-Service-Units.
    pub used: Units,
    pub tariff: Option<&'t Tariff>,
    /// Whether the item came from an MSCC (answered in an MSCC) or the command level.
    pub in_mscc: bool,
    /// Index in the batch of the op whose result this item's answer needs.
    pub op: Option<usize>,
    /// Units wanted (grants, debits, refunds).
    pub want_units: u64,
    /// The Refund-Information the request carried for this service (MSCC, or command level
    /// when there is no MSCC).
    pub refund_information: Option<Bytes>,
}

impl ChargingServer {
    /// The items of a request; `default_request` makes an item with no RSU ask for the
    /// default quota (event charging).
    pub(super) fn items(&self, ccr: &Ccr, default_request: bool) -> Vec<Item<'_>> {
        let mut items = Vec::new();
        let ctx = ccr.service_context_id.as_str();
        if ccr.multiple_services_credit_control.is_empty() {
            let req = ccr.requested_service_unit.as_ref().map(|r| requested(r));
            let usu = used(&ccr.used_service_unit);
            if req.is_none() && usu.is_empty() && !default_request {
                return items;
            }
            let req = req.or(default_request.then(Units::default));
            let mut item = self.item(ctx, None, ccr.service_identifier, req, usu, false);
            item.refund_information = ccr.refund_information.clone();
            items.push(item);
        } else {
            // Without the indicator (one MSCC), the service is answered at session level.
            let in_mscc = self.multiple_services(ccr);
            for m in &ccr.multiple_services_credit_control {
                let mut req = m.requested_service_unit.as_ref().map(|r| requested(r));
                if default_request && req.is_none() {
                    req = Some(Units::default());
                }
                let usu = used(&m.used_service_unit);
                let sid = m.service_identifier.first().copied();
                let mut item = self.item(ctx, m.rating_group, sid, req, usu, in_mscc);
                item.refund_information = m.refund_information.clone();
                items.push(item);
            }
        }
        items
    }

    fn item(
        &self,
        ctx: &str,
        rating_group: Option<u32>,
        service_identifier: Option<u32>,
        requested: Option<Units>,
        used: Units,
        in_mscc: bool,
    ) -> Item<'_> {
        let mut units = requested.map(|r| r.present()).unwrap_or_default();
        units.extend(used.present());
        Item {
            rating_group,
            service_identifier,
            requested,
            used,
            tariff: self
                .tariffs
                .find(ctx, service_identifier, rating_group, &units),
            in_mscc,
            op: None,
            want_units: 0,
            refund_information: None,
        }
    }

    pub(super) async fn session_request(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        now_ms: i64,
        peer: &str,
        use_cache: bool,
        mode: Mode,
    ) -> Result<(), StoreError> {
        let kind = ccr.cc_request_type;
        let session = ccr.session_id.as_str();
        let key = request_key(ccr, peer);
        let cached = match kind {
            CcRequestType::InitialRequest => None,
            _ if use_cache => self.known_session_account(session),
            _ => None,
        };
        let account = if kind == CcRequestType::InitialRequest {
            match self.resolve_account(ccr, now_ms, true)? {
                Some(a) => a,
                None => {
                    cca.result_code = dcca_rc::DIAMETER_USER_UNKNOWN;
                    return Ok(());
                }
            }
        } else if let Some(a) = cached {
            a
        } else {
            let known = match self.store.session_account(session)? {
                Some(a) => Some(a),
                None => self.store.request_account(&key)?,
            };
            match known {
                Some(a) => a,
                None => {
                    cca.result_code = base_rc::DIAMETER_UNKNOWN_SESSION_ID;
                    return Ok(());
                }
            }
        };
        let mut items = self.items(ccr, false);
        let mut batch = Batch::new(account, Some(session.to_string()));
        batch.key = Some(key);
        batch.peer = Some(peer.to_string());
        batch.require_session = kind != CcRequestType::InitialRequest;
        let tcc = i64::try_from(self.config.tcc.as_millis()).unwrap_or(i64::MAX);
        let expires_at = now_ms.saturating_add(tcc);
        match kind {
            CcRequestType::InitialRequest => batch.ops.push(Op::OpenSession { expires_at }),
            CcRequestType::UpdateRequest => batch.ops.push(Op::Touch { expires_at }),
            _ => {}
        }
        let terminate = kind == CcRequestType::TerminationRequest;
        // Settle every service first, so that released reservations can fund new grants.
        for item in &items {
            let Some(t) = item.tariff else { continue };
            let settle = !item.used.is_empty()
                || (kind == CcRequestType::UpdateRequest && item.requested.is_some());
            if settle {
                let used_cost = t.cost(item.used.get(t.unit).unwrap_or(0));
                batch.ops.push(Op::Settle {
                    rating_group: item.rating_group,
                    used_cost,
                });
            }
        }
        for item in &mut items {
            let Some(t) = item.tariff else { continue };
            if let (false, Some(req)) = (terminate, item.requested) {
                item.want_units = t.quota(req.get(t.unit));
                let want = t.cost(item.want_units);
                if want > 0 {
                    item.op = Some(batch.ops.len());
                    batch.ops.push(Op::Reserve {
                        rating_group: item.rating_group,
                        want,
                        block: t.price,
                    });
                }
            }
        }
        if terminate {
            batch.ops.push(Op::CloseSession);
        }
        let out = self.charge(batch, now_ms, mode).await?;
        if out.unknown_session && cached.is_some() {
            // Not open for the account remembered here (closed or moved elsewhere): ask
            // the store.
            return Box::pin(self.session_request(ccr, cca, now_ms, peer, false, mode)).await;
        }
        if out.unknown_session {
            tracing::info!(%session, %peer, "ocs: update or termination of a session not open for this peer");
            cca.result_code = base_rc::DIAMETER_UNKNOWN_SESSION_ID;
            return Ok(());
        }
        if out.clash {
            tracing::warn!(%session, %peer, "ocs: CCR-I for a Session-Id open for another account or peer refused");
            cca.result_code = base_rc::DIAMETER_UNABLE_TO_COMPLY;
            return Ok(());
        }
        if terminate {
            self.forget_peer(session);
        } else {
            self.remember_peer(ccr, account);
        }
        let answers: Vec<Answer> = items
            .iter()
            .map(|i| self.grant_answer(i, &out, terminate))
            .collect();
        self.put_answers(cca, &items, answers);
        Ok(())
    }

    /// The answer for one item of a session request, from the batch outcome.
    fn grant_answer(&self, item: &Item<'_>, out: &BatchOutcome, terminate: bool) -> Answer {
        let Some(t) = item.tariff else {
            return Answer::code(dcca_rc::DIAMETER_RATING_FAILED);
        };
        if item.requested.is_none() && !item.used.is_empty() && !terminate {
            // A report without Requested-Service-Unit: the final units are used and the
            // final action started (RFC 8506 §5.6.2). Debited, nothing reserved; the
            // Validity-Time says when the client asks again.
            return Answer {
                validity: true,
                ..Answer::code(base_rc::DIAMETER_SUCCESS)
            };
        }
        if item.requested.is_none() || item.want_units == 0 {
            return Answer::code(base_rc::DIAMETER_SUCCESS);
        }
        let units = match item.op {
            Some(i) => {
                let money = out.results.get(i).copied().unwrap_or(0);
                t.units_for(money).min(item.want_units)
            }
            None => item.want_units, // free
        };
        if units == 0 {
            return Answer::code(dcca_rc::DIAMETER_CREDIT_LIMIT_REACHED);
        }
        let last = item.op.is_some() && (units < item.want_units || out.available() < t.price);
        Answer {
            result_code: base_rc::DIAMETER_SUCCESS,
            granted: Some(granted(t.unit, units)),
            final_unit: last.then(|| {
                final_unit_indication(t.final_unit.as_ref(), self.config.final_unit_action)
            }),
            validity: true,
            refund_information: None,
        }
    }

    /// Puts the item answers into the CCA (MSCCs or command level) and sets the command's
    /// Result-Code: success when any service succeeded (or there was none), else the first
    /// service's code.
    pub(super) fn put_answers(&self, cca: &mut Cca, items: &[Item<'_>], answers: Vec<Answer>) {
        let mut any_ok = items.is_empty();
        let mut first_err = None;
        for (item, a) in items.iter().zip(answers) {
            if a.result_code == base_rc::DIAMETER_SUCCESS {
                any_ok = true;
            } else {
                first_err = first_err.or(Some(a.result_code));
            }
            let validity = a.validity.then_some(self.config.validity_time);
            if item.in_mscc {
                cca.multiple_services_credit_control
                    .push(MultipleServicesCreditControl {
                        rating_group: item.rating_group,
                        service_identifier: item.service_identifier.into_iter().collect(),
                        result_code: Some(a.result_code),
                        granted_service_unit: a.granted.map(Into::into),
                        validity_time: validity,
                        final_unit_indication: a.final_unit.map(Into::into),
                        refund_information: a.refund_information,
                        ..Default::default()
                    });
            } else {
                cca.refund_information = a.refund_information;
                cca.granted_service_unit = a.granted.map(Into::into);
                cca.final_unit_indication = a.final_unit.map(Into::into);
                cca.validity_time = validity;
            }
        }
        cca.result_code = match (any_ok, first_err) {
            (false, Some(code)) => code,
            _ => base_rc::DIAMETER_SUCCESS,
        };
    }
}

/// The answer for one item.
pub(super) struct Answer {
    pub result_code: u32,
    pub granted: Option<GrantedServiceUnit>,
    pub final_unit: Option<FinalUnitIndication>,
    /// Whether the answer carries Validity-Time (session grants, and reports after the
    /// final units).
    pub validity: bool,
    /// The reference of a direct debit, for a later refund.
    pub refund_information: Option<Bytes>,
}

impl Answer {
    pub fn code(result_code: u32) -> Answer {
        Answer {
            result_code,
            granted: None,
            final_unit: None,
            validity: false,
            refund_information: None,
        }
    }
}
