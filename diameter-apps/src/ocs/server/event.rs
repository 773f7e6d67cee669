//! Event charging (CCR-EVENT): direct debiting, refund, balance check and price enquiry.
//!
//! A direct debit's CCA carries Cost-Information: what was charged, in the tariff's
//! currency; and Low-Balance-Indication YES (TS 32.299) when the balance left is under
//! [`super::ServerConfig::low_balance_threshold`].
//!
//! A direct debit from a peer with the refund right is recorded under a fresh random
//! reference that its CCA returns in Refund-Information (TS 32.299; in the MSCC, or at
//! command level for an event without MSCC). Other peers get no Refund-Information (it has
//! the M bit, which a plain RFC 4006 client rejects, and they could not use it). REFUND_ACCOUNT is served only to peers given the right
//! ([`super::ServerConfig::refund_peers`]; others get 5003 DIAMETER_AUTHORIZATION_REJECTED)
//! and only against such a reference of the same subscriber, for at most what that debit
//! left to refund.

use super::charge::{Answer, Item};
use super::convert::{cost_information, granted};
use super::{ChargingServer, Pending, Resolved, Step};
use crate::ocs::rating::Tariff;
use crate::ocs::store::{
    Batch, BatchOutcome, Op, StoreError, REFUND_EXCEEDS, REFUND_OVERFLOW, REFUND_UNKNOWN,
};
use diameter::dict::base_rfc6733::{result_code as base_rc, FailedAvp};
use diameter::dict::dcca_rfc4006::{
    avp, result_code as dcca_rc, Cca, Ccr, CheckBalanceResult, CostInformation, RequestedAction,
};
use diameter::dict::tgpp_ts32299::LowBalanceIndication;
use diameter_core::bytes::Bytes;
use diameter_core::{AvpFlags, RawAvp};

/// Version byte of a Refund-Information this server issues.
const REFERENCE_VERSION: u8 = 1;
/// Random bytes of a reference.
const REFERENCE_LEN: usize = 16;

/// A fresh debit reference (hex, as stored), or `None` when the system has no randomness.
fn new_reference() -> Option<String> {
    let mut b = [0u8; REFERENCE_LEN];
    getrandom::fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The Refund-Information carrying a stored reference.
fn refund_information(reference: &str) -> Option<Bytes> {
    if reference.len() != 2 * REFERENCE_LEN {
        return None;
    }
    let mut out = Vec::with_capacity(1 + REFERENCE_LEN);
    out.push(REFERENCE_VERSION);
    for i in (0..reference.len()).step_by(2) {
        out.push(u8::from_str_radix(reference.get(i..i + 2)?, 16).ok()?);
    }
    Some(Bytes::from(out))
}

/// The stored reference a Refund-Information names, when it is one of ours.
pub(crate) fn parse_refund_information(info: &[u8]) -> Option<String> {
    match info.split_first() {
        Some((&REFERENCE_VERSION, rest)) if rest.len() == REFERENCE_LEN => {
            Some(rest.iter().map(|x| format!("{x:02x}")).collect())
        }
        _ => None,
    }
}

/// Answers 5005 DIAMETER_MISSING_AVP naming Requested-Action (RFC 8506 §8.3), with the
/// RFC 6733 §7.5 example of the missing AVP in Failed-AVP: its code and flags, a zeroed
/// value of the minimum length.
/// What a direct debit's or refund's answer needs besides its batch's outcome.
pub(super) struct EventPending<'t> {
    items: Vec<Item<'t>>,
    /// Refund items refused before the store: (item index, Result-Code).
    refused: Vec<(usize, u32)>,
    action: RequestedAction,
}

/// Sets Check-Balance-Result from a CHECK_BALANCE batch's outcome.
pub(super) fn check_balance_answer(cca: &mut Cca, out: &BatchOutcome) {
    cca.check_balance_result = Some(if out.results.first() == Some(&1) {
        CheckBalanceResult::EnoughCredit
    } else {
        CheckBalanceResult::NoCredit
    });
}

fn missing_requested_action(cca: &mut Cca) {
    cca.result_code = base_rc::DIAMETER_MISSING_AVP;
    cca.failed_avp = vec![FailedAvp {
        other: vec![RawAvp::new(
            avp::REQUESTED_ACTION,
            AvpFlags::MANDATORY,
            0,
            Bytes::from_static(&[0; 4]),
        )]
        .into(),
    }]
    .into();
}

impl ChargingServer {
    /// The Requested-Action of an event: the AVP, or, for a peer in
    /// [`super::ServerConfig::lenient_requested_action_peers`], DIRECT_DEBITING when absent.
    fn requested_action(&self, ccr: &Ccr, peer: &str) -> Option<RequestedAction> {
        ccr.requested_action.or_else(|| {
            self.config
                .lenient_requested_action_peers
                .contains(&peer.to_ascii_lowercase())
                .then_some(RequestedAction::DirectDebiting)
        })
    }

    /// The look-ups of an event request (CCR-E) and its batch.
    pub(super) fn event_plan(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        now_ms: i64,
        peer: &str,
        lookups: bool,
    ) -> Result<Step<'_>, StoreError> {
        let Some(action) = self.requested_action(ccr, peer) else {
            missing_requested_action(cca);
            return Ok(Step::Done);
        };
        if let RequestedAction::Unrecognized(_) = action {
            cca.result_code = base_rc::DIAMETER_INVALID_AVP_VALUE;
            return Ok(Step::Done);
        }
        let refund = action == RequestedAction::RefundAccount;
        if refund && !self.may_refund(peer) {
            tracing::warn!(session = %ccr.session_id, %peer, "ocs: REFUND_ACCOUNT from a peer without the refund right refused");
            cca.result_code = base_rc::DIAMETER_AUTHORIZATION_REJECTED;
            return Ok(Step::Done);
        }
        let mut items = self.items(ccr, true, now_ms);
        // Price of each item (None: no tariff).
        let mut total = 0i64;
        let mut rating_failed = false;
        for item in &mut items {
            match item.tariff.as_deref() {
                Some(t) => {
                    let req = item.requested.unwrap_or_default();
                    item.want_units = t.quota(req.get(t.unit));
                    total = total.saturating_add(t.cost(item.want_units));
                }
                None => rating_failed = true,
            }
        }
        if action == RequestedAction::PriceEnquiry {
            let priced = items
                .iter()
                .filter_map(|i| i.tariff.as_deref().map(|t| (t, t.cost(i.want_units))));
            match self.cost(priced) {
                Ok(cost) if !rating_failed => {
                    cca.cost_information = Some(cost.unwrap_or_else(|| {
                        cost_information(total, self.tariffs.currency, self.tariffs.exponent)
                    }))
                }
                // No tariff, or prices in several currencies: no one price to state.
                _ => cca.result_code = dcca_rc::DIAMETER_RATING_FAILED,
            }
            return Ok(Step::Done);
        }
        // A refund never creates an account: it needs an earlier debit.
        let account = match self.resolve_account(ccr, now_ms, !refund, lookups)? {
            Resolved::Account(a) => a,
            Resolved::Unknown => {
                cca.result_code = dcca_rc::DIAMETER_USER_UNKNOWN;
                return Ok(Step::Done);
            }
            Resolved::NeedsStore => return Ok(Step::NeedsStore),
        };
        let mut batch = Batch::new(account, Some(ccr.session_id.as_str().to_string()));
        let (key, owner) = self.request_key(ccr, peer);
        batch.key = Some(key);
        batch.peer = Some(owner);
        if action == RequestedAction::CheckBalance {
            if rating_failed {
                cca.result_code = dcca_rc::DIAMETER_RATING_FAILED;
                return Ok(Step::Done);
            }
            batch.key = None; // reads only
            batch.ops.push(Op::Check { amount: total });
            return Ok(Step::Charge(batch, Pending::Check));
        }
        // Refund-Information (a TS 32.299 AVP with the M bit, which a plain RFC 4006 client
        // rejects) goes only to peers that may refund: they are the ones that can use it.
        let issue_references = self.may_refund(peer);
        // Refund items refused before the store: (item index, Result-Code).
        let mut refused: Vec<(usize, u32)> = Vec::new();
        for (n, item) in items.iter_mut().enumerate() {
            let Some(t) = item.tariff.as_deref() else {
                continue;
            };
            let amount = t.cost(item.want_units);
            if refund {
                let reference = match item.refund_information.as_deref() {
                    None => {
                        refused.push((n, base_rc::DIAMETER_MISSING_AVP));
                        continue;
                    }
                    Some(info) => match parse_refund_information(info) {
                        Some(r) => r,
                        None => {
                            refused.push((n, base_rc::DIAMETER_INVALID_AVP_VALUE));
                            continue;
                        }
                    },
                };
                item.op = Some(batch.ops.len());
                batch.ops.push(Op::Refund { amount, reference });
            } else {
                item.op = Some(batch.ops.len());
                batch.ops.push(Op::Debit {
                    amount,
                    partial: false,
                    reference: issue_references.then(new_reference).flatten(),
                });
            }
        }
        let pending = EventPending {
            items,
            refused,
            action,
        };
        if batch.ops.is_empty() {
            self.event_finish(ccr, cca, peer, pending, BatchOutcome::default());
            return Ok(Step::Done);
        }
        Ok(Step::Charge(batch, Pending::Event(pending)))
    }

    /// The answer of a direct debit or refund from its batch's outcome.
    pub(super) fn event_finish(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        peer: &str,
        p: EventPending<'_>,
        out: BatchOutcome,
    ) {
        let EventPending {
            items,
            refused,
            action,
        } = p;
        if out.clash {
            tracing::warn!(session = %ccr.session_id, %peer, "ocs: event reusing a request key of another account refused");
            cca.result_code = base_rc::DIAMETER_UNABLE_TO_COMPLY;
            return;
        }
        let answers = items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                if let Some(&(_, code)) = refused.iter().find(|(i, _)| *i == n) {
                    return Answer::code(code);
                }
                let (Some(t), Some(i)) = (item.tariff.as_deref(), item.op) else {
                    return Answer::code(dcca_rc::DIAMETER_RATING_FAILED);
                };
                let done = out.results.get(i).copied().unwrap_or(0);
                match done {
                    REFUND_UNKNOWN | REFUND_EXCEEDS => {
                        tracing::warn!(session = %ccr.session_id, %peer, code = done, "ocs: refund refused (unknown debit, or more than it left)");
                        return Answer::code(base_rc::DIAMETER_INVALID_AVP_VALUE);
                    }
                    REFUND_OVERFLOW => return Answer::code(base_rc::DIAMETER_UNABLE_TO_COMPLY),
                    _ => {}
                }
                if done < t.cost(item.want_units) {
                    return Answer::code(dcca_rc::DIAMETER_CREDIT_LIMIT_REACHED);
                }
                Answer {
                    result_code: base_rc::DIAMETER_SUCCESS,
                    granted: Some(granted(t.unit, item.want_units)),
                    final_unit: None,
                    validity: false,
                    refund_information: out
                        .references
                        .get(i)
                        .and_then(|r| refund_information(r)),
                    ..Answer::code(base_rc::DIAMETER_SUCCESS)
                }
            })
            .collect::<Vec<Answer>>();
        if action == RequestedAction::DirectDebiting {
            self.debit_cost(ccr, cca, &items, &answers, out.available());
        }
        self.put_answers(cca, &items, answers);
    }

    /// The cost of a direct debit in its CCA: Cost-Information with what the successful
    /// items were charged (omitted when they are priced in several currencies), and
    /// Low-Balance-Indication YES when the available balance after the debit is under
    /// [`super::ServerConfig::low_balance_threshold`].
    fn debit_cost(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        items: &[Item<'_>],
        answers: &[Answer],
        available: i64,
    ) {
        let charged: Vec<(&Tariff, i64)> = items
            .iter()
            .zip(answers)
            .filter(|(_, a)| a.result_code == base_rc::DIAMETER_SUCCESS)
            .filter_map(|(i, _)| i.tariff.as_deref().map(|t| (t, t.cost(i.want_units))))
            .collect();
        if charged.is_empty() {
            return;
        }
        match self.cost(charged.iter().copied()) {
            Ok(cost) => cca.cost_information = cost,
            Err(()) => {
                tracing::warn!(session = %ccr.session_id, "ocs: direct debit priced in several currencies, no Cost-Information")
            }
        }
        if let Some(threshold) = self.config.low_balance_threshold {
            if available < threshold {
                cca.low_balance_indication = Some(LowBalanceIndication::Yes);
            }
        }
    }

    /// Cost-Information for the sum of `parts` (tariff, price in its minor units): `None`
    /// when there are none, `Err` when they are in different currencies.
    fn cost<'a>(
        &self,
        parts: impl Iterator<Item = (&'a Tariff, i64)>,
    ) -> Result<Option<CostInformation>, ()> {
        let mut sum: Option<((u32, i32), i64)> = None;
        for (t, price) in parts {
            let money = self.tariffs.money_of(t);
            sum = match sum {
                None => Some((money, price)),
                Some((m, total)) if m == money => Some((m, total.saturating_add(price))),
                Some(_) => return Err(()),
            };
        }
        Ok(sum.map(|((currency, exponent), total)| cost_information(total, currency, exponent)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refund_information_round_trip() {
        let r = new_reference().unwrap();
        let info = refund_information(&r).unwrap();
        assert_eq!(info.len(), 17);
        assert_eq!(parse_refund_information(&info), Some(r));
        assert_eq!(parse_refund_information(&info[..16]), None);
        assert_eq!(parse_refund_information(b""), None);
        let mut forged = info.to_vec();
        forged[0] = 2;
        assert_eq!(parse_refund_information(&forged), None);
    }
}
