//! Per-service quota tracking of the credit-control client.

use crate::ocs::rating::{UnitType, Units};
use diameter::dict::dcca_rfc4006::{
    CcMoney, CcUnitType, FinalUnitAction, FinalUnitIndication, GSUPoolReference,
    GrantedServiceUnit, MultipleServicesCreditControl,
};
use diameter::dict::tgpp_ts32299::{ReportingReason, TriggerType};
use std::time::{Duration, Instant};

/// A service of a session: Rating-Group and/or Service-Identifier (both None: the
/// command-level units of a CCR without MSCC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// Rating-Group.
    pub rating_group: Option<u32>,
    /// Service-Identifier.
    pub service_identifier: Option<u32>,
}

impl ServiceKey {
    /// A rating group.
    pub fn rating_group(rg: u32) -> Self {
        ServiceKey {
            rating_group: Some(rg),
            service_identifier: None,
        }
    }

    /// The key of an MSCC.
    pub fn of(m: &MultipleServicesCreditControl) -> Self {
        ServiceKey {
            rating_group: m.rating_group,
            service_identifier: m.service_identifier.first().copied(),
        }
    }
}

/// Units of a Granted-Service-Unit.
pub fn granted_units(g: &GrantedServiceUnit) -> Units {
    Units {
        time: g.cc_time.map(u64::from),
        total_octets: g.cc_total_octets,
        input_octets: g.cc_input_octets,
        output_octets: g.cc_output_octets,
        service_specific: g.cc_service_specific_units,
    }
}

/// What the client holds for one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Quota {
    /// Units granted by the last answer.
    pub granted: Units,
    /// The monetary quota of the last grant (CC-Money: what the granted units cost).
    pub money: Option<CcMoney>,
    /// Units used since the last report.
    pub used: Units,
    /// When the grant stops being valid (Validity-Time).
    pub valid_until: Option<Instant>,
    /// Time-Quota-Threshold (s): ask for more when this little time is left.
    pub time_threshold: Option<u32>,
    /// Volume-Quota-Threshold (octets).
    pub volume_threshold: Option<u32>,
    /// Unit-Quota-Threshold (service-specific units).
    pub unit_threshold: Option<u32>,
    /// Final-Unit-Indication of the grant: these are the last units.
    pub final_unit: Option<FinalUnitIndication>,
    /// An update for this service was asked for and not sent yet.
    pub update_due: bool,
    /// The final units are used up and the final action was taken.
    pub final_action_taken: bool,
    /// The usage of the final units was reported (the CCR-U without Requested-Service-Unit
    /// went out): the next update asks for units again.
    pub final_reported: bool,
    /// Quota-Holding-Time: with no use for this long, report and release the quota.
    pub holding_time: Option<Duration>,
    /// When the service was last used (or granted).
    pub last_use: Instant,
    /// Why the next report is made (TS 32.299 Reporting-Reason), when known.
    pub reason: Option<ReportingReason>,
    /// The credit pools the grant draws on (G-S-U-Pool-Identifier of its
    /// G-S-U-Pool-References), so that a RAR naming a pool re-authorizes it.
    pub pools: Vec<u32>,
    /// The grant's share of each credit pool (RFC 4006 §5.1.2).
    pub pool_shares: Vec<PoolShare>,
    /// When the tariff changes (Tariff-Time-Change, on the session's clock): usage after it
    /// is reported apart, with Tariff-Change-Usage.
    pub tariff_change: Option<Instant>,
    /// The part of `used` used after `tariff_change`.
    pub used_after: Units,
    /// Quota-Consumption-Time (TS 32.299): gaps between traffic longer than this count as
    /// this much time.
    pub consumption_time: Option<Duration>,
    /// The last traffic seen ([`super::CcSession::report_activity`]) and the part of a
    /// second of time consumed but not yet counted.
    pub last_activity: Option<(Instant, Duration)>,
    /// The 3GPP Trigger-Types armed by the grant (Trigger).
    pub triggers: Vec<TriggerType>,
    /// Money used since the last report (reported as CC-Money).
    pub used_money: Option<CcMoney>,
}

/// One G-S-U-Pool-Reference of a grant: its units of `unit` count `multiplier` times in
/// pool `pool`.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolShare {
    /// G-S-U-Pool-Identifier.
    pub pool: u32,
    /// CC-Unit-Type of the units pooled.
    pub unit: CcUnitType,
    /// Unit-Value as (Value-Digits, Exponent).
    pub multiplier: (i64, i32),
}

impl PoolShare {
    /// The share of a G-S-U-Pool-Reference.
    pub fn of(r: &GSUPoolReference) -> PoolShare {
        PoolShare {
            pool: r.g_s_u_pool_identifier,
            unit: r.cc_unit_type,
            multiplier: (
                r.unit_value.value_digits,
                r.unit_value.exponent.unwrap_or(0),
            ),
        }
    }

    /// `units` (of this share's type, or Value-Digits of money at exponent 0) in pool
    /// units, scaled by 10^9 so that multipliers down to 10^-9 stay exact.
    pub fn weigh(&self, units: u64) -> i128 {
        let (digits, exp) = self.multiplier;
        let shift = (exp.clamp(-9, 9) + 9) as u32;
        i128::from(units)
            .saturating_mul(i128::from(digits))
            .saturating_mul(10i128.pow(shift))
    }

    /// The amount of this share's unit type in `u` (money: Value-Digits, as sent).
    pub fn units_in(&self, u: &Units, money: Option<&CcMoney>) -> u64 {
        let unit = match self.unit {
            CcUnitType::Time => UnitType::Time,
            CcUnitType::TotalOctets => UnitType::TotalOctets,
            CcUnitType::InputOctets => UnitType::InputOctets,
            CcUnitType::OutputOctets => UnitType::OutputOctets,
            CcUnitType::ServiceSpecificUnits => UnitType::ServiceSpecific,
            _ => {
                return money
                    .map(|m| u64::try_from(m.unit_value.value_digits).unwrap_or(0))
                    .unwrap_or(0)
            }
        };
        u.get(unit).unwrap_or(0)
    }
}

/// Adds two CC-Money amounts of one currency, at the finer exponent (`None` when the
/// currencies differ or the sum does not fit).
pub fn add_money(a: &CcMoney, b: &CcMoney) -> Option<CcMoney> {
    if a.currency_code != b.currency_code {
        return None;
    }
    let (ea, eb) = (
        a.unit_value.exponent.unwrap_or(0),
        b.unit_value.exponent.unwrap_or(0),
    );
    let exp = ea.min(eb);
    let scale = |d: i64, e: i32| {
        let shift = u32::try_from(e.checked_sub(exp)?).ok()?;
        d.checked_mul(10i64.checked_pow(shift)?)
    };
    let sum =
        scale(a.unit_value.value_digits, ea)?.checked_add(scale(b.unit_value.value_digits, eb)?)?;
    let mut out = a.clone();
    out.unit_value.value_digits = sum;
    out.unit_value.exponent = Some(exp);
    Some(out)
}

/// Whether `used` is at least `granted` (same currency; `false` when not comparable).
fn money_used_up(granted: &CcMoney, used: &CcMoney) -> bool {
    let mut neg = granted.clone();
    neg.unit_value.value_digits = neg.unit_value.value_digits.saturating_neg();
    add_money(used, &neg).is_some_and(|d| d.unit_value.value_digits >= 0)
}

fn plus(a: &Units, b: &Units) -> Units {
    fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
        match (a, b) {
            (a, None) => a,
            (a, Some(b)) => Some(a.unwrap_or(0).saturating_add(b)),
        }
    }
    Units {
        time: add(a.time, b.time),
        total_octets: add(a.total_octets, b.total_octets),
        input_octets: add(a.input_octets, b.input_octets),
        output_octets: add(a.output_octets, b.output_octets),
        service_specific: add(a.service_specific, b.service_specific),
    }
}

/// `a` less `b`, per unit type (absent in `a`: absent).
pub fn minus(a: &Units, b: &Units) -> Units {
    Units {
        time: sub(a.time, b.time),
        total_octets: sub(a.total_octets, b.total_octets),
        input_octets: sub(a.input_octets, b.input_octets),
        output_octets: sub(a.output_octets, b.output_octets),
        service_specific: sub(a.service_specific, b.service_specific),
    }
}

fn sub(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.map(|a| a.saturating_sub(b.unwrap_or(0)))
}

impl Quota {
    /// A quota from an MSCC (or command-level) grant.
    pub fn from_grant(
        gsu: Option<&GrantedServiceUnit>,
        validity_time: Option<u32>,
        final_unit: Option<FinalUnitIndication>,
        thresholds: (Option<u32>, Option<u32>, Option<u32>),
        now: Instant,
    ) -> Quota {
        Quota {
            granted: gsu.map(granted_units).unwrap_or_default(),
            money: gsu.and_then(|g| g.cc_money.clone()),
            used: Units::default(),
            valid_until: validity_time.map(|v| now + Duration::from_secs(u64::from(v))),
            time_threshold: thresholds.0,
            volume_threshold: thresholds.1,
            unit_threshold: thresholds.2,
            final_unit,
            update_due: false,
            final_action_taken: false,
            final_reported: false,
            holding_time: None,
            last_use: now,
            reason: None,
            pools: Vec::new(),
            pool_shares: Vec::new(),
            tariff_change: None,
            used_after: Units::default(),
            consumption_time: None,
            last_activity: None,
            triggers: Vec::new(),
            used_money: None,
        }
    }

    /// Units left of the grant.
    pub fn remaining(&self) -> Units {
        Units {
            time: sub(self.granted.time, self.used.time),
            total_octets: sub(self.granted.total_octets, self.used.total_octets),
            input_octets: sub(self.granted.input_octets, self.used.input_octets),
            output_octets: sub(self.granted.output_octets, self.used.output_octets),
            service_specific: sub(self.granted.service_specific, self.used.service_specific),
        }
    }

    /// Adds usage made at `now` (after the tariff change it also counts as used after).
    pub fn add_usage(&mut self, u: &Units, now: Instant) {
        self.used = plus(&self.used, u);
        if self.tariff_change.is_some_and(|c| now >= c) {
            self.used_after = plus(&self.used_after, u);
        }
    }

    /// Adds money used (summed when of one currency; another currency's is dropped).
    pub fn add_money_used(&mut self, m: &CcMoney) {
        self.used_money = match &self.used_money {
            None => Some(m.clone()),
            Some(old) => Some(add_money(old, m).unwrap_or_else(|| old.clone())),
        };
    }

    /// Whether some granted unit type (or the granted money) is used up.
    pub fn exhausted(&self) -> bool {
        let r = self.remaining();
        let money = match (&self.money, &self.used_money) {
            (Some(g), Some(u)) => money_used_up(g, u),
            _ => false,
        };
        money
            || self
                .granted
                .present()
                .into_iter()
                .any(|u| r.get(u) == Some(0))
    }

    /// Whether the quota draws on a credit pool (then the pool, not the quota, decides when
    /// to ask for more).
    pub fn pooled(&self) -> bool {
        !self.pool_shares.is_empty() && self.final_unit.is_none()
    }

    /// Time consumed by traffic at `now` (Quota-Consumption-Time, TS 32.299): the gap since
    /// the last traffic, at most the Quota-Consumption-Time; whole seconds, the rest kept.
    pub fn consume_time(&mut self, now: Instant) -> u64 {
        let (gap, carry) = match self.last_activity {
            None => (Duration::ZERO, Duration::ZERO),
            Some((last, carry)) => (now.saturating_duration_since(last), carry),
        };
        let counted = self.consumption_time.map_or(gap, |q| gap.min(q)) + carry;
        let secs = counted.as_secs();
        self.last_activity = Some((now, counted - Duration::from_secs(secs)));
        secs
    }

    /// Whether a threshold (or the end of the grant) is reached: time to ask for more.
    pub fn threshold_reached(&self) -> bool {
        if self.exhausted() {
            return true;
        }
        let r = self.remaining();
        let below = |unit: UnitType, t: Option<u32>| match (r.get(unit), t) {
            (Some(left), Some(t)) => left <= u64::from(t),
            _ => false,
        };
        below(UnitType::Time, self.time_threshold)
            || below(UnitType::TotalOctets, self.volume_threshold)
            || below(UnitType::InputOctets, self.volume_threshold)
            || below(UnitType::OutputOctets, self.volume_threshold)
            || below(UnitType::ServiceSpecific, self.unit_threshold)
    }

    /// When the Quota-Holding-Time runs out, if it applies (not while a report is due or
    /// a final-unit action is in force).
    pub fn holding_deadline(&self) -> Option<Instant> {
        if self.update_due || self.final_action_taken {
            return None;
        }
        self.holding_time.map(|h| self.last_use + h)
    }

    /// The Final-Unit-Action, when these are the last units.
    pub fn final_action(&self) -> Option<FinalUnitAction> {
        self.final_unit.as_ref().map(|f| f.final_unit_action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter::dict::dcca_rfc4006::UnitValue;

    fn money(value_digits: i64, exponent: i32, currency: u32) -> CcMoney {
        CcMoney {
            unit_value: UnitValue {
                value_digits,
                exponent: Some(exponent),
                ..Default::default()
            },
            currency_code: Some(currency),
            ..Default::default()
        }
    }

    #[test]
    fn money_adds_at_the_finer_exponent_and_never_overflows() {
        let sum = add_money(&money(3, 0, 978), &money(25, -2, 978)).unwrap();
        assert_eq!(
            (sum.unit_value.value_digits, sum.unit_value.exponent),
            (325, Some(-2))
        );
        assert!(add_money(&money(1, 0, 978), &money(1, 0, 840)).is_none());
        assert!(add_money(&money(1, i32::MAX, 978), &money(1, i32::MIN, 978)).is_none());
        assert!(add_money(&money(i64::MAX, 0, 978), &money(1, 0, 978)).is_none());
        assert!(money_used_up(&money(30, -2, 978), &money(3, -1, 978)));
        assert!(!money_used_up(&money(30, -2, 978), &money(29, -2, 978)));
    }

    #[test]
    fn pool_shares_weigh_units_by_their_multiplier() {
        let share = PoolShare {
            pool: 1,
            unit: CcUnitType::Time,
            multiplier: (25, -2),
        };
        assert_eq!(share.weigh(4), 1_000_000_000); // 4 × 0.25 = 1 pool unit
        let hostile = PoolShare {
            multiplier: (i64::MAX, i32::MAX),
            ..share
        };
        assert!(hostile.weigh(u64::MAX) > 0);
    }

    #[test]
    fn consumption_time_caps_gaps() {
        let t0 = Instant::now();
        let mut q = Quota::from_grant(None, None, None, (None, None, None), t0);
        q.consumption_time = Some(Duration::from_secs(10));
        assert_eq!(q.consume_time(t0), 0);
        assert_eq!(q.consume_time(t0 + Duration::from_millis(2500)), 2);
        assert_eq!(q.consume_time(t0 + Duration::from_millis(3000)), 1); // carried half
        assert_eq!(q.consume_time(t0 + Duration::from_secs(100)), 10);
    }
}
