//! Event charging (CCR-EVENT): direct debiting, refund, balance check and price enquiry.

use super::charge::Answer;
use super::convert::{cost_information, granted};
use super::{request_key, ChargingServer};
use crate::ocs::store::{Batch, Op, StoreError};
use diameter::dict::base_rfc6733::result_code as base_rc;
use diameter::dict::dcca_rfc4006::{
    result_code as dcca_rc, Cca, Ccr, CheckBalanceResult, RequestedAction,
};

impl ChargingServer {
    pub(super) fn event_request(
        &self,
        ccr: &Ccr,
        cca: &mut Cca,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let action = ccr
            .requested_action
            .unwrap_or(RequestedAction::DirectDebiting);
        if let RequestedAction::Unrecognized(_) = action {
            cca.result_code = base_rc::DIAMETER_INVALID_AVP_VALUE;
            return Ok(());
        }
        let mut items = self.items(ccr, true);
        // Price of each item (None: no tariff).
        let mut total = 0i64;
        let mut rating_failed = false;
        for item in &mut items {
            match item.tariff {
                Some(t) => {
                    let req = item.requested.unwrap_or_default();
                    item.want_units = t.quota(req.get(t.unit));
                    total = total.saturating_add(t.cost(item.want_units));
                }
                None => rating_failed = true,
            }
        }
        if action == RequestedAction::PriceEnquiry {
            if rating_failed {
                cca.result_code = dcca_rc::DIAMETER_RATING_FAILED;
            } else {
                cca.cost_information = Some(cost_information(
                    total,
                    self.tariffs.currency,
                    self.tariffs.exponent,
                ));
            }
            return Ok(());
        }
        let Some(account) = self.resolve_account(ccr, now_ms)? else {
            cca.result_code = dcca_rc::DIAMETER_USER_UNKNOWN;
            return Ok(());
        };
        let mut batch = Batch::new(account, Some(ccr.session_id.as_str().to_string()));
        batch.key = Some(request_key(ccr));
        if action == RequestedAction::CheckBalance {
            if rating_failed {
                cca.result_code = dcca_rc::DIAMETER_RATING_FAILED;
                return Ok(());
            }
            batch.key = None; // reads only
            batch.ops.push(Op::Check { amount: total });
            let out = self.store.apply(&batch, now_ms)?;
            cca.check_balance_result = Some(if out.results.first() == Some(&1) {
                CheckBalanceResult::EnoughCredit
            } else {
                CheckBalanceResult::NoCredit
            });
            return Ok(());
        }
        for item in &mut items {
            let Some(t) = item.tariff else { continue };
            let amount = t.cost(item.want_units);
            item.op = Some(batch.ops.len());
            batch.ops.push(if action == RequestedAction::RefundAccount {
                Op::Refund { amount }
            } else {
                Op::Debit {
                    amount,
                    partial: false,
                }
            });
        }
        let out = self.store.apply(&batch, now_ms)?;
        let answers = items
            .iter()
            .map(|item| {
                let (Some(t), Some(i)) = (item.tariff, item.op) else {
                    return Answer::code(dcca_rc::DIAMETER_RATING_FAILED);
                };
                let done = out.results.get(i).copied().unwrap_or(0);
                if done < t.cost(item.want_units) {
                    return Answer::code(dcca_rc::DIAMETER_CREDIT_LIMIT_REACHED);
                }
                Answer {
                    result_code: base_rc::DIAMETER_SUCCESS,
                    granted: Some(granted(t.unit, item.want_units)),
                    final_unit: None,
                    validity: false,
                }
            })
            .collect();
        self.put_answers(cca, &items, answers);
        Ok(())
    }
}
