//! Per-service quota tracking of the credit-control client.

use crate::ocs::rating::{UnitType, Units};
use diameter::dict::dcca_rfc4006::{
    CcMoney, FinalUnitAction, FinalUnitIndication, GrantedServiceUnit,
    MultipleServicesCreditControl,
};
use diameter::dict::tgpp_ts32299::ReportingReason;
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

    /// Adds usage.
    pub fn add_usage(&mut self, u: &Units) {
        fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (a, None) => a,
                (a, Some(b)) => Some(a.unwrap_or(0).saturating_add(b)),
            }
        }
        self.used = Units {
            time: add(self.used.time, u.time),
            total_octets: add(self.used.total_octets, u.total_octets),
            input_octets: add(self.used.input_octets, u.input_octets),
            output_octets: add(self.used.output_octets, u.output_octets),
            service_specific: add(self.used.service_specific, u.service_specific),
        };
    }

    /// Whether some granted unit type is used up.
    pub fn exhausted(&self) -> bool {
        let r = self.remaining();
        self.granted
            .present()
            .into_iter()
            .any(|u| r.get(u) == Some(0))
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
