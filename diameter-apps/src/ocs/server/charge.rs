//! Session charging (CCR-INITIAL, UPDATE, TERMINATION) and the per-service items shared with
//! event charging.
// The code generator boxes large optional grouped members (and may change which), so
// values go in with `.into()` and come out through deref coercion.
#![allow(
    clippy::useless_conversion,
    clippy::redundant_closure,
    clippy::useless_asref
)]

use super::convert::{
    cc_money, final_unit_indication, granted, requested, used, used_money, Money,
};
use super::{ChargingServer, Pending, Resolved, Step};
use crate::ocs::rating::{Tariff, UnitType, Units};
use crate::ocs::store::{Batch, BatchOutcome, Op, StoreError};
use diameter::dict::base_rfc6733::result_code as base_rc;
use diameter::dict::dcca_rfc4006::{
    result_code as dcca_rc, CcRequestType, Cca, Ccr, FinalUnitIndication, GrantedServiceUnit,
};
use diameter::dict::dcca_rfc4006::{
    CcUnitType, GSUPoolReference, TariffChangeUsage, UsedServiceUnit,
};
use diameter::dict::tgpp_ts32299::{Trigger, TriggerType};
use diameter_core::bytes::Bytes;
use std::borrow::Cow;

/// One service of a request: an MSCC, or the command-level units when there is no MSCC.
pub(super) struct Item<'t> {
    pub rating_group: Option<u32>,
    pub service_identifier: Option<u32>,
    /// Requested-Service-Unit, when present.
    pub requested: Option<Units>,
    /// Sum of the Used-Service-Units.
    pub used: Units,
    /// CC-Money of the Requested-Service-Unit: grant what this buys, and say its price.
    pub money: Option<Money>,
    /// CC-Money of the Used-Service-Units (debited as it is when no units are reported).
    pub used_money: Option<Money>,
    /// The tariff as it prices this request (band prices resolved, see [`Tariff::at`]).
    pub tariff: Option<Cow<'t, Tariff>>,
    /// The band boundary within the grant's Validity-Time (Unix seconds): Tariff-Time-Change.
    pub tariff_change: Option<i64>,
    /// Used units split by Tariff-Change-Usage (before, after), when the client split them.
    pub split: Option<(Units, Units)>,
    /// The request's time, Unix seconds.
    pub now_s: i64,
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
    pub(super) fn items(&self, ccr: &Ccr, default_request: bool, now_ms: i64) -> Vec<Item<'_>> {
        let mut items = Vec::with_capacity(ccr.multiple_services_credit_control.len().max(1));
        let now_s = now_ms.div_euclid(1000);
        // An event is debited at once: no grant outlives its request.
        let horizon = if default_request {
            0
        } else {
            i64::from(self.config.validity_time)
        };
        let ctx = ccr.service_context_id.as_str();
        if ccr.multiple_services_credit_control.is_empty() {
            let req = ccr.requested_service_unit.as_ref().map(|r| requested(r));
            let usu = used(&ccr.used_service_unit);
            let money = Moneys {
                requested: ccr
                    .requested_service_unit
                    .as_ref()
                    .and_then(|r| r.cc_money.as_ref())
                    .map(Money::of),
                used: used_money(&ccr.used_service_unit),
            };
            if req.is_none() && usu.is_empty() && money.used.is_none() && !default_request {
                return items;
            }
            let req = req.or(default_request.then(Units::default));
            let mut item = self.item(ctx, None, ccr.service_identifier, req, usu, false);
            self.resolve_bands(&mut item, now_s, horizon, split(&ccr.used_service_unit));
            self.add_money(&mut item, money);
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
                self.resolve_bands(&mut item, now_s, horizon, split(&m.used_service_unit));
                let money = Moneys {
                    requested: m
                        .requested_service_unit
                        .as_ref()
                        .and_then(|r| r.cc_money.as_ref())
                        .map(Money::of),
                    used: used_money(&m.used_service_unit),
                };
                self.add_money(&mut item, money);
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
                .find(ctx, service_identifier, rating_group, &units)
                .map(Cow::Borrowed),
            tariff_change: None,
            split: None,
            now_s: 0,
            in_mscc,
            money: None,
            used_money: None,
            op: None,
            want_units: 0,
            refund_information: None,
        }
    }

    /// Prices a banded tariff at the request's time (see [`Tariff::at`]).
    fn resolve_bands(
        &self,
        item: &mut Item<'_>,
        now_s: i64,
        horizon: i64,
        split: Option<(Units, Units)>,
    ) {
        item.now_s = now_s;
        item.split = split;
        if let Some(Cow::Borrowed(t)) = item.tariff {
            if !t.bands.is_empty() {
                let (priced, change) = t.at(now_s, horizon);
                item.tariff = Some(Cow::Owned(priced));
                item.tariff_change = change;
            }
        }
    }

    /// Adds an item's CC-Money; money in another currency than its tariff's cannot be
    /// rated (the item gets 5031 RATING_FAILED).
    fn add_money(&self, item: &mut Item<'_>, money: Moneys) {
        let foreign = |m: &Option<Money>, t: &Tariff| {
            m.and_then(|m| m.currency)
                .is_some_and(|c| c != self.tariffs.money_of(t).0)
        };
        if let Some(t) = item.tariff.as_deref() {
            if foreign(&money.requested, t) || foreign(&money.used, t) {
                item.tariff = None;
            }
        }
        item.money = money.requested;
        item.used_money = money.used;
    }

    /// The price of an item's usage: its units of the tariff's type, else its CC-Money.
    fn used_cost(&self, item: &Item<'_>, t: &Tariff) -> i64 {
        match (item.used.get(t.unit), item.used_money) {
            (None, Some(m)) => self
                .tariffs
                .minor_units(t, m.value_digits, m.exponent)
                .unwrap_or(0),
            (units, _) => {
                let now = t.price_at(item.now_s);
                match item.split {
                    Some((before, after)) if !t.bands.is_empty() => {
                        // Units before the change at the price before the last boundary
                        // (when it fell within a grant's life), the rest at today's.
                        let horizon = i64::from(self.config.validity_time);
                        let before_price = t
                            .last_change(item.now_s)
                            .filter(|c| *c > item.now_s - horizon)
                            .map_or(now, |c| t.price_at(c - 1));
                        let units = |u: Units| u.get(t.unit).unwrap_or(0);
                        t.cost_at_price(units(before), before_price)
                            .saturating_add(t.cost_at_price(units(after), now))
                    }
                    _ => t.cost_at_price(units.unwrap_or(0), now),
                }
            }
        }
    }

    /// Units to ask for: the requested amount of the tariff's unit, else what the
    /// requested CC-Money buys (whole blocks), else the default quota.
    fn want_units(&self, item: &Item<'_>, t: &Tariff, req: &Units) -> u64 {
        match (req.get(t.unit), item.money) {
            (None, Some(m)) if t.price > 0 => {
                let minor = self
                    .tariffs
                    .minor_units(t, m.value_digits, m.exponent)
                    .unwrap_or(0);
                t.units_for(minor)
            }
            (amount, _) => t.quota(amount),
        }
    }

    /// The look-ups of a session request (CCR-I/U/T) and its batch; `use_cache`: the
    /// session's account may come from this node's memory of it; `lookups`: the store's
    /// look-ups may be called (else [`Step::NeedsStore`] when memory cannot answer).
    pub(super) fn session_plan(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        now_ms: i64,
        peer: &str,
        use_cache: bool,
        lookups: bool,
    ) -> Result<Step<'_>, StoreError> {
        let kind = ccr.cc_request_type;
        let session = ccr.session_id.as_str();
        let (key, owner) = self.request_key(ccr, peer);
        let cached = match kind {
            CcRequestType::InitialRequest => None,
            _ if use_cache => self.known_session_account(session),
            _ => None,
        };
        let account = if kind == CcRequestType::InitialRequest {
            match self.resolve_account(ccr, now_ms, true, lookups)? {
                Resolved::Account(a) => a,
                Resolved::Unknown => {
                    cca.result_code = dcca_rc::DIAMETER_USER_UNKNOWN;
                    return Ok(Step::Done);
                }
                Resolved::NeedsStore => return Ok(Step::NeedsStore),
            }
        } else if let Some(a) = cached {
            a
        } else if !lookups {
            return Ok(Step::NeedsStore);
        } else {
            let known = match self.store.session_account(session)? {
                Some(a) => Some(a),
                None => self.store.request_account(&key)?,
            };
            match known {
                Some(a) => a,
                None => {
                    cca.result_code = base_rc::DIAMETER_UNKNOWN_SESSION_ID;
                    return Ok(Step::Done);
                }
            }
        };
        let mut items = self.items(ccr, false, now_ms);
        let mut batch = Batch::new(account, Some(session.to_string()));
        batch.key = Some(key);
        batch.peer = Some(owner);
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
            let Some(t) = item.tariff.as_deref() else {
                continue;
            };
            let settle = !item.used.is_empty()
                || item.used_money.is_some()
                || (kind == CcRequestType::UpdateRequest && item.requested.is_some());
            if settle {
                let used_cost = self.used_cost(item, t);
                batch.ops.push(Op::Settle {
                    rating_group: item.rating_group,
                    used_cost,
                });
            }
        }
        for item in &mut items {
            let Some(t) = item.tariff.clone() else {
                continue;
            };
            let t = &*t;
            if let (false, Some(req)) = (terminate, item.requested) {
                item.want_units = self.want_units(item, t, &req);
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
        let pending = SessionPending {
            items,
            account,
            cached: cached.is_some(),
            terminate,
        };
        Ok(Step::Charge(batch, Pending::Session(pending)))
    }

    /// The answer of a session request from its batch's outcome; a retry without this
    /// node's memory of the session when that proved stale.
    pub(super) fn session_finish(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        peer: &str,
        p: SessionPending<'_>,
        out: BatchOutcome,
    ) -> Result<Step<'_>, StoreError> {
        let session = ccr.session_id.as_str();
        if out.unknown_session && p.cached {
            // Not open for the account remembered here (closed or moved elsewhere): ask
            // the store, and forget what was remembered.
            self.forget_peer(session);
            return Ok(Step::Replan);
        }
        if out.unknown_session {
            tracing::info!(%session, %peer, "ocs: update or termination of a session not open for this peer");
            cca.result_code = base_rc::DIAMETER_UNKNOWN_SESSION_ID;
            return Ok(Step::Done);
        }
        if out.clash {
            tracing::warn!(%session, %peer, "ocs: CCR-I for a Session-Id open for another account or peer refused");
            cca.result_code = base_rc::DIAMETER_UNABLE_TO_COMPLY;
            return Ok(Step::Done);
        }
        if p.terminate {
            self.forget_peer(session);
        } else {
            self.remember_peer(ccr, p.account);
        }
        let answers: Vec<Answer> = p
            .items
            .iter()
            .map(|i| self.grant_answer(i, &out, p.terminate))
            .collect();
        self.put_answers(cca, &p.items, answers);
        self.low_balance(cca, &out);
        Ok(Step::Done)
    }

    /// Low-Balance-Indication YES on a successful session answer that leaves the available
    /// balance under [`super::ServerConfig::low_balance_threshold`].
    fn low_balance(&self, cca: &mut Cca, out: &BatchOutcome) {
        let ok = cca.result_code == base_rc::DIAMETER_SUCCESS;
        if let (true, Some(threshold)) = (ok, self.config.low_balance_threshold) {
            if out.available() < threshold {
                cca.low_balance_indication =
                    Some(diameter::dict::tgpp_ts32299::LowBalanceIndication::Yes);
            }
        }
    }

    /// The answer for one item of a session request, from the batch outcome.
    fn grant_answer(&self, item: &Item<'_>, out: &BatchOutcome, terminate: bool) -> Answer {
        let Some(t) = item.tariff.as_deref() else {
            return Answer::code(dcca_rc::DIAMETER_RATING_FAILED);
        };
        let reported = !item.used.is_empty() || item.used_money.is_some();
        if item.requested.is_none() && reported && !terminate {
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
        let mut grant = granted(t.unit, units);
        grant.tariff_time_change = item
            .tariff_change
            .and_then(diameter_core::Time::from_unix_seconds);
        if t.grant_money || item.money.is_some() {
            let (currency, exponent) = self.tariffs.money_of(t);
            grant.cc_money = Some(cc_money(t.cost(units), currency, exponent).into());
        }
        Answer {
            threshold: t.quota_threshold.map(|v| (t.unit, v)),
            holding_time: t.quota_holding_time,
            result_code: base_rc::DIAMETER_SUCCESS,
            granted: Some(grant),
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
                let tariff = item.tariff.as_deref().filter(|_| a.granted.is_some());
                let threshold = |u: &[UnitType]| {
                    a.threshold
                        .filter(|(unit, _)| u.contains(unit))
                        .map(|(_, v)| v)
                };
                // Built in the answer's vector: a 500-byte MSCC is not copied there.
                let m =
                    diameter_core::traits::push_default(&mut cca.multiple_services_credit_control);
                m.time_quota_threshold = threshold(&[UnitType::Time]);
                m.volume_quota_threshold = threshold(&[
                    UnitType::TotalOctets,
                    UnitType::InputOctets,
                    UnitType::OutputOctets,
                ]);
                m.unit_quota_threshold = threshold(&[UnitType::ServiceSpecific]);
                m.quota_holding_time = a.holding_time;
                m.rating_group = item.rating_group;
                m.service_identifier = item.service_identifier.into_iter().collect();
                m.result_code = Some(a.result_code);
                m.granted_service_unit = a.granted.map(Into::into);
                m.validity_time = validity;
                m.final_unit_indication = a.final_unit.map(Into::into);
                m.refund_information = a.refund_information;
                m.g_s_u_pool_reference = tariff.and_then(pool_reference).into_iter().collect();
                m.quota_consumption_time = tariff.and_then(|t| t.quota_consumption_time);
                m.trigger = tariff.and_then(trigger).map(Into::into);
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

/// What a session request's answer needs besides its batch's outcome.
pub(super) struct SessionPending<'t> {
    items: Vec<Item<'t>>,
    account: crate::ocs::store::AccountId,
    /// The account came from this node's memory of the session.
    cached: bool,
    terminate: bool,
}

/// The CC-Money of one service of a request.
struct Moneys {
    requested: Option<Money>,
    used: Option<Money>,
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
    /// The tariff's quota threshold and its unit type (MSCC grants only).
    pub threshold: Option<(UnitType, u32)>,
    /// The tariff's Quota-Holding-Time (MSCC grants only).
    pub holding_time: Option<u32>,
}

impl Answer {
    pub fn code(result_code: u32) -> Answer {
        Answer {
            result_code,
            granted: None,
            final_unit: None,
            validity: false,
            refund_information: None,
            threshold: None,
            holding_time: None,
        }
    }
}

/// The Used-Service-Units split by Tariff-Change-Usage: (before, after), when any says
/// (UNIT_INDETERMINATE counts as after: it is rated at the new price).
fn split(usus: &[UsedServiceUnit]) -> Option<(Units, Units)> {
    usus.iter().find(|u| u.tariff_change_usage.is_some())?;
    let (before, after): (Vec<_>, Vec<_>) = usus.iter().cloned().partition(|u| {
        matches!(
            u.tariff_change_usage,
            None | Some(TariffChangeUsage::UnitBeforeTariffChange)
        )
    });
    Some((used(&before), used(&after)))
}

/// The G-S-U-Pool-Reference of a tariff with a credit pool.
fn pool_reference(t: &Tariff) -> Option<GSUPoolReference> {
    let pool = t.pool.as_ref()?;
    let (value_digits, exponent) = pool.unit_value()?;
    Some(GSUPoolReference {
        g_s_u_pool_identifier: pool.id,
        cc_unit_type: match t.unit {
            UnitType::Time => CcUnitType::Time,
            UnitType::TotalOctets => CcUnitType::TotalOctets,
            UnitType::InputOctets => CcUnitType::InputOctets,
            UnitType::OutputOctets => CcUnitType::OutputOctets,
            UnitType::ServiceSpecific => CcUnitType::ServiceSpecificUnits,
        },
        unit_value: diameter::dict::dcca_rfc4006::UnitValue {
            value_digits,
            exponent: Some(exponent),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// The 3GPP Trigger of a tariff that arms some.
fn trigger(t: &Tariff) -> Option<Trigger> {
    (!t.triggers.is_empty()).then(|| Trigger {
        trigger_type: t
            .triggers
            .iter()
            .map(|k| TriggerType::from(k.code()))
            .collect(),
        ..Default::default()
    })
}
