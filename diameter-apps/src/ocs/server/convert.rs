//! Conversions between the generated AVP structs and the rating types.

use crate::ocs::rating::{FinalAction, FinalUnitPolicy, RedirectKind, UnitType, Units};
use crate::ocs::store::{IdKind, SubscriberId};
use diameter::dict::dcca_rfc4006::{
    CcMoney, Ccr, CostInformation, FinalUnitAction, FinalUnitIndication, GrantedServiceUnit,
    RedirectAddressType, RedirectServer, RequestedServiceUnit, SubscriptionIdType, UnitValue,
    UsedServiceUnit,
};

/// The amounts of a Requested-Service-Unit.
pub fn requested(rsu: &RequestedServiceUnit) -> Units {
    Units {
        time: rsu.cc_time.map(u64::from),
        total_octets: rsu.cc_total_octets,
        input_octets: rsu.cc_input_octets,
        output_octets: rsu.cc_output_octets,
        service_specific: rsu.cc_service_specific_units,
    }
}

/// The sum of several Used-Service-Units.
pub fn used(usus: &[UsedServiceUnit]) -> Units {
    fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
        match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        }
    }
    usus.iter().fold(Units::default(), |acc, u| Units {
        time: add(acc.time, u.cc_time.map(u64::from)),
        total_octets: add(acc.total_octets, u.cc_total_octets),
        input_octets: add(acc.input_octets, u.cc_input_octets),
        output_octets: add(acc.output_octets, u.cc_output_octets),
        service_specific: add(acc.service_specific, u.cc_service_specific_units),
    })
}

/// A Granted-Service-Unit of `amount` units of one type.
pub fn granted(unit: UnitType, amount: u64) -> GrantedServiceUnit {
    let mut g = GrantedServiceUnit::default();
    match unit {
        UnitType::Time => g.cc_time = Some(u32::try_from(amount).unwrap_or(u32::MAX)),
        UnitType::TotalOctets => g.cc_total_octets = Some(amount),
        UnitType::InputOctets => g.cc_input_octets = Some(amount),
        UnitType::OutputOctets => g.cc_output_octets = Some(amount),
        UnitType::ServiceSpecific => g.cc_service_specific_units = Some(amount),
    }
    g
}

/// The Final-Unit-Indication of a last grant: the tariff's policy, else `default` alone.
pub fn final_unit_indication(
    policy: Option<&FinalUnitPolicy>,
    default: FinalUnitAction,
) -> FinalUnitIndication {
    let Some(p) = policy else {
        return FinalUnitIndication {
            final_unit_action: default,
            ..Default::default()
        };
    };
    let final_unit_action = match p.action {
        FinalAction::Terminate => FinalUnitAction::Terminate,
        FinalAction::Redirect => FinalUnitAction::Redirect,
        FinalAction::RestrictAccess => FinalUnitAction::RestrictAccess,
    };
    let redirect_server = p.redirect_address.as_deref().map(|a| RedirectServer {
        redirect_address_type: match p.redirect_address_type {
            RedirectKind::Url => RedirectAddressType::Url,
            RedirectKind::SipUri => RedirectAddressType::SipUri,
            RedirectKind::Ipv4Address => RedirectAddressType::Ipv4Address,
            RedirectKind::Ipv6Address => RedirectAddressType::Ipv6Address,
        },
        redirect_server_address: a.into(),
        ..Default::default()
    });
    FinalUnitIndication {
        final_unit_action,
        restriction_filter_rule: p
            .restriction_filter_rule
            .iter()
            .map(|r| r.as_str().into())
            .collect(),
        filter_id: p.filter_id.iter().map(|f| f.as_str().into()).collect(),
        redirect_server,
        ..Default::default()
    }
}

/// A Unit-Value of `minor` minor units with the currency's exponent.
pub fn unit_value(minor: i64, exponent: i32) -> UnitValue {
    UnitValue {
        value_digits: minor,
        exponent: Some(-exponent),
        ..Default::default()
    }
}

/// CC-Money of `minor` minor units in a currency.
pub fn cc_money(minor: i64, currency: u32, exponent: i32) -> CcMoney {
    CcMoney {
        unit_value: unit_value(minor, exponent),
        currency_code: Some(currency),
        ..Default::default()
    }
}

/// The sum of the CC-Money of several Used-Service-Units, as (value, exponent, currency)
/// of the first one that has it (the others must match it to count).
pub fn used_money(usus: &[UsedServiceUnit]) -> Option<Money> {
    let mut sum: Option<Money> = None;
    for m in usus.iter().filter_map(|u| u.cc_money.as_ref()) {
        let this = Money::of(m);
        sum = Some(match sum {
            None => this,
            Some(s) if s.exponent == this.exponent && s.currency == this.currency => Money {
                value_digits: s.value_digits.saturating_add(this.value_digits),
                ..s
            },
            Some(s) => s,
        });
    }
    sum
}

/// A CC-Money amount as it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money {
    /// Value-Digits.
    pub value_digits: i64,
    /// Exponent (absent: 0).
    pub exponent: i32,
    /// Currency-Code, when given.
    pub currency: Option<u32>,
}

impl Money {
    /// The amount of a CC-Money AVP.
    pub fn of(m: &CcMoney) -> Money {
        Money {
            value_digits: m.unit_value.value_digits,
            exponent: m.unit_value.exponent.unwrap_or(0),
            currency: m.currency_code,
        }
    }
}

/// Cost-Information for a price in minor units.
pub fn cost_information(minor: i64, currency: u32, exponent: i32) -> CostInformation {
    CostInformation {
        unit_value: unit_value(minor, exponent),
        currency_code: currency,
        ..Default::default()
    }
}

/// The Subscription-Ids of a CCR (Subscription-Id and RFC 8506 Subscription-Id-Extension).
pub fn subscribers(ccr: &Ccr) -> Vec<SubscriberId> {
    let mut out = Vec::new();
    for s in &ccr.subscription_id {
        let kind = match s.subscription_id_type {
            SubscriptionIdType::EndUserE164 => IdKind::E164,
            SubscriptionIdType::EndUserImsi => IdKind::Imsi,
            SubscriptionIdType::EndUserSipUri => IdKind::SipUri,
            SubscriptionIdType::EndUserNai => IdKind::Nai,
            SubscriptionIdType::EndUserPrivate => IdKind::Private,
            _ => continue,
        };
        out.push(SubscriberId::new(kind, s.subscription_id_data.as_str()));
    }
    for e in &ccr.subscription_id_extension {
        let pairs = [
            (IdKind::E164, &e.subscription_id_e164),
            (IdKind::Imsi, &e.subscription_id_imsi),
            (IdKind::SipUri, &e.subscription_id_sip_uri),
            (IdKind::Nai, &e.subscription_id_nai),
            (IdKind::Private, &e.subscription_id_private),
        ];
        for (kind, v) in pairs {
            if let Some(v) = v {
                out.push(SubscriberId::new(kind, v.as_str()));
            }
        }
    }
    out
}
