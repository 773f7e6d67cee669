//! Rating: tariffs per Service-Context-Id / Service-Identifier / Rating-Group and unit type.
//!
//! A tariff prices one unit type in blocks: `price` minor units per `block` units, rounded
//! up for usage (a started block is charged) and down for grants (only whole blocks are
//! granted). Tariffs of different unit types (time for voice, octets for data, service
//! specific units for SMS) all draw on the one monetary balance of an account.
//!
//! The tariffs file (`--tariffs FILE`, or the `[rating]` part of the OCS config), TOML:
//!
//! ```toml
//! currency = 978        # ISO 4217 numeric code of the prices (978 = EUR)
//! exponent = 2          # minor units: 10^-2 (cents); used in Cost-Information / CC-Money
//!
//! [[tariff]]
//! name = "data"
//! service_context_id = "32251@3gpp.org"  # optional; absent matches any
//! rating_group = 100                     # optional; absent matches any
//! unit = "total_octets"                  # time | total_octets | input_octets | output_octets | service_specific
//! block = 1048576                        # units per priced block (1 MiB)
//! price = 2                              # minor units per block
//! default_quota = 10485760               # units granted when the request names no amount
//!
//! [[tariff]]
//! name = "voice"
//! rating_group = 200
//! unit = "time"
//! block = 60                             # per started minute
//! price = 10
//! default_quota = 300
//!
//! [[tariff]]
//! name = "sms"
//! service_context_id = "32274@3gpp.org"
//! service_identifier = 1                 # optional; absent matches any
//! unit = "service_specific"
//! block = 1
//! price = 9
//! default_quota = 1
//! currency = 826                         # optional: this tariff's currency (default: the file's)
//! grant_money = true                     # optional: grants carry CC-Money too (default false)
//! quota_threshold = 1                    # optional: Time/Volume/Unit-Quota-Threshold (TS 32.299)
//! quota_holding_time = 30                # optional: Quota-Holding-Time, seconds
//! exponent = 2                           # optional: its minor unit (default: the file's)
//!
//! [[tariff]]
//! name = "video"
//! rating_group = 300
//! unit = "time"
//! block = 1
//! price = 1                              # the price outside the bands below
//! quota_consumption_time = 10            # optional: Quota-Consumption-Time (TS 32.299), s
//! triggers = ["change_in_qos", "change_in_rat"]  # optional: 3GPP Trigger-Types sent in grants
//! pool = { id = 1, multiplier = "0.5" }  # optional: G-S-U-Pool-Reference (RFC 4006 §5.1.2)
//! # optional daily time bands (UTC): from `start` on, `price` applies; a grant whose
//! # Validity-Time crosses a band boundary carries Tariff-Time-Change.
//! bands = [{ start = "08:00", price = 2 }, { start = "20:00", price = 1 }]
//!
//! # What the client does when this tariff's last units are used (RFC 8506 §5.6; optional,
//! # default: the server's Final-Unit-Action, TERMINATE).
//! [tariff.final_unit]
//! action = "redirect"                    # terminate | redirect | restrict_access
//! redirect_address = "https://topup.example.net/"   # required for redirect
//! redirect_address_type = "url"          # url (default) | sip_uri | ipv4_address | ipv6_address
//! filter_id = ["zero-rated"]             # restrict_access: Filter-Id (or with redirect)
//! restriction_filter_rule = ["permit out ip from any to 192.0.2.10"]  # Restriction-Filter-Rule
//! ```
//!
//! The tariff chosen for a request is the most specific match (Rating-Group counts more than
//! Service-Identifier, which counts more than Service-Context-Id); among equally specific
//! ones, the first whose unit type the request names, else the first in the file.

use serde::Deserialize;

/// A unit type a tariff prices (CC-Unit-Type without MONEY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitType {
    /// CC-Time, seconds.
    Time,
    /// CC-Total-Octets.
    TotalOctets,
    /// CC-Input-Octets.
    InputOctets,
    /// CC-Output-Octets.
    OutputOctets,
    /// CC-Service-Specific-Units.
    ServiceSpecific,
}

/// Amounts of each unit type, as in Requested-, Granted- and Used-Service-Unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Units {
    /// CC-Time.
    pub time: Option<u64>,
    /// CC-Total-Octets.
    pub total_octets: Option<u64>,
    /// CC-Input-Octets.
    pub input_octets: Option<u64>,
    /// CC-Output-Octets.
    pub output_octets: Option<u64>,
    /// CC-Service-Specific-Units.
    pub service_specific: Option<u64>,
}

impl Units {
    /// The amount of one unit type.
    pub fn get(&self, unit: UnitType) -> Option<u64> {
        match unit {
            UnitType::Time => self.time,
            UnitType::TotalOctets => self.total_octets,
            UnitType::InputOctets => self.input_octets,
            UnitType::OutputOctets => self.output_octets,
            UnitType::ServiceSpecific => self.service_specific,
        }
    }

    /// Units with only `unit` set to `amount`.
    pub fn only(unit: UnitType, amount: u64) -> Units {
        let mut u = Units::default();
        match unit {
            UnitType::Time => u.time = Some(amount),
            UnitType::TotalOctets => u.total_octets = Some(amount),
            UnitType::InputOctets => u.input_octets = Some(amount),
            UnitType::OutputOctets => u.output_octets = Some(amount),
            UnitType::ServiceSpecific => u.service_specific = Some(amount),
        }
        u
    }

    /// The unit types present, in a fixed order.
    pub fn present(&self) -> Vec<UnitType> {
        [
            UnitType::Time,
            UnitType::TotalOctets,
            UnitType::InputOctets,
            UnitType::OutputOctets,
            UnitType::ServiceSpecific,
        ]
        .into_iter()
        .filter(|u| self.get(*u).is_some())
        .collect()
    }

    /// Whether no amount is present.
    pub fn is_empty(&self) -> bool {
        self.present().is_empty()
    }
}

/// One tariff.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// Name for logs.
    #[serde(default)]
    pub name: String,
    /// Service-Context-Id this applies to (None: any).
    #[serde(default)]
    pub service_context_id: Option<String>,
    /// Service-Identifier (None: any).
    #[serde(default)]
    pub service_identifier: Option<u32>,
    /// Rating-Group (None: any).
    #[serde(default)]
    pub rating_group: Option<u32>,
    /// The unit type priced.
    pub unit: UnitType,
    /// Units per block (at least 1).
    #[serde(default = "one")]
    pub block: u64,
    /// Minor units per block.
    pub price: i64,
    /// Units granted when the request names no amount of this unit type.
    #[serde(default)]
    pub default_quota: Option<u64>,
    /// ISO 4217 numeric code of this tariff's prices, as Cost-Information reports them
    /// (default: the file's `currency`). The balance is debited by the price as it is, so
    /// this should be the currency of the accounts that use the tariff.
    #[serde(default)]
    pub currency: Option<u32>,
    /// Decimal exponent of this tariff's minor unit (default: the file's `exponent`).
    #[serde(default)]
    pub exponent: Option<i32>,
    /// Every grant of this tariff also carries CC-Money: the price of the granted units
    /// (default false; a request whose Requested-Service-Unit has CC-Money gets it anyway).
    #[serde(default)]
    pub grant_money: bool,
    /// Units (of this tariff's type) left at which the client asks for more: sent as
    /// Time-, Volume- or Unit-Quota-Threshold (TS 32.299) in MSCC grants (default: none).
    #[serde(default)]
    pub quota_threshold: Option<u32>,
    /// Quota-Holding-Time (TS 32.299), seconds: a client that sees no use for this long
    /// reports and releases the quota (default: none).
    #[serde(default)]
    pub quota_holding_time: Option<u32>,
    /// Final-Unit-Indication of this tariff's last grant (default: the server's action).
    #[serde(default)]
    pub final_unit: Option<FinalUnitPolicy>,
    /// Quota-Consumption-Time (TS 32.299), seconds: time quota is consumed only while
    /// traffic flows, with gaps longer than this counted as this (time tariffs only;
    /// default: none, time runs continuously).
    #[serde(default)]
    pub quota_consumption_time: Option<u32>,
    /// 3GPP Trigger-Types sent with each MSCC grant: when one of these conditions changes
    /// the client reports with Reporting-Reason RATING_CONDITION_CHANGE (default: none).
    #[serde(default)]
    pub triggers: Vec<TriggerKind>,
    /// The credit pool this tariff's grants go into (default: none).
    #[serde(default)]
    pub pool: Option<PoolPolicy>,
    /// Daily time bands (UTC), each with its own price (default: none, `price` always).
    #[serde(default)]
    pub bands: Vec<Band>,
}

/// A 3GPP Trigger-Type a tariff arms (TS 32.299 §7.2.207).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// CHANGE_IN_SGSN_IP_ADDRESS (1).
    ChangeInSgsnIpAddress,
    /// CHANGE_IN_QOS (2).
    ChangeInQos,
    /// CHANGE_IN_LOCATION (3).
    ChangeInLocation,
    /// CHANGE_IN_RAT (4).
    ChangeInRat,
    /// CHANGE_IN_UE_TIMEZONE (5).
    ChangeInUeTimezone,
}

impl TriggerKind {
    /// The Trigger-Type value on the wire.
    pub fn code(self) -> i32 {
        match self {
            TriggerKind::ChangeInSgsnIpAddress => 1,
            TriggerKind::ChangeInQos => 2,
            TriggerKind::ChangeInLocation => 3,
            TriggerKind::ChangeInRat => 4,
            TriggerKind::ChangeInUeTimezone => 5,
        }
    }
}

/// The credit pool of a tariff (`pool = { id, multiplier }`, RFC 4006 §5.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolPolicy {
    /// G-S-U-Pool-Identifier.
    pub id: u32,
    /// Unit-Value of the G-S-U-Pool-Reference: pool units per unit of this tariff, a
    /// decimal such as "0.5" (default "1").
    #[serde(default = "one_text")]
    pub multiplier: String,
}

fn one_text() -> String {
    "1".into()
}

impl PoolPolicy {
    /// The multiplier as (Value-Digits, Exponent); `None` when it is not a decimal > 0.
    pub fn unit_value(&self) -> Option<(i64, i32)> {
        parse_decimal(&self.multiplier).filter(|(d, _)| *d > 0)
    }
}

/// Parses a plain decimal ("12", "0.05") into (digits, exponent).
pub fn parse_decimal(text: &str) -> Option<(i64, i32)> {
    let text = text.trim();
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let all = format!("{int}{frac}");
    if !all.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 18 {
        return None;
    }
    let digits: i64 = all.parse().ok()?;
    Some((digits, -i32::try_from(frac.len()).ok()?))
}

/// One daily price band of a tariff: from `start` (UTC "HH:MM") until the next band's start.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Start, "HH:MM" UTC.
    pub start: String,
    /// Minor units per block in this band.
    pub price: i64,
}

impl Band {
    /// Seconds after midnight UTC of the start; `None` when not "HH:MM".
    pub fn start_second(&self) -> Option<i64> {
        let (h, m) = self.start.split_once(':')?;
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
    }
}

const DAY: i64 = 86_400;

/// Final-Unit-Action of a tariff (RFC 8506 §8.35).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalAction {
    /// End the service when the final units are used.
    Terminate,
    /// Send the user to `redirect_address` (a top-up page).
    Redirect,
    /// Allow only the traffic of the filters.
    RestrictAccess,
}

/// Redirect-Address-Type of a redirect (RFC 8506 §8.38).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectKind {
    /// A URL (RFC 3986).
    #[default]
    Url,
    /// A SIP URI.
    SipUri,
    /// An IPv4 address.
    Ipv4Address,
    /// An IPv6 address.
    Ipv6Address,
}

/// What a tariff's Final-Unit-Indication says (`[tariff.final_unit]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalUnitPolicy {
    /// Final-Unit-Action.
    pub action: FinalAction,
    /// Redirect-Server-Address (required for REDIRECT, not allowed otherwise).
    #[serde(default)]
    pub redirect_address: Option<String>,
    /// Redirect-Address-Type (default URL).
    #[serde(default)]
    pub redirect_address_type: RedirectKind,
    /// Filter-Id AVPs (RESTRICT_ACCESS, or REDIRECT with zero-rated traffic).
    #[serde(default)]
    pub filter_id: Vec<String>,
    /// Restriction-Filter-Rule AVPs (IPFilterRule text, RFC 6733 §4.3.1).
    #[serde(default)]
    pub restriction_filter_rule: Vec<String>,
}

impl FinalUnitPolicy {
    /// Checks the combination: REDIRECT needs an address, RESTRICT_ACCESS a filter,
    /// TERMINATE neither; every rule must be an IPFilterRule.
    pub fn check(&self) -> Result<(), String> {
        let filters = !self.filter_id.is_empty() || !self.restriction_filter_rule.is_empty();
        match self.action {
            FinalAction::Redirect if self.redirect_address.as_deref().unwrap_or("").is_empty() => {
                return Err("action = \"redirect\" needs redirect_address".into())
            }
            FinalAction::RestrictAccess if !filters => {
                return Err(
                    "action = \"restrict_access\" needs filter_id or restriction_filter_rule"
                        .into(),
                )
            }
            FinalAction::Terminate if filters || self.redirect_address.is_some() => {
                return Err("action = \"terminate\" takes no redirect address or filters".into())
            }
            FinalAction::RestrictAccess if self.redirect_address.is_some() => {
                return Err("action = \"restrict_access\" takes no redirect_address".into())
            }
            _ => {}
        }
        for rule in &self.restriction_filter_rule {
            diameter_core::IpFilterRule::new(rule.as_str())
                .map_err(|e| format!("restriction_filter_rule `{rule}`: {e}"))?;
        }
        Ok(())
    }
}

fn one() -> u64 {
    1
}

impl Tariff {
    fn block(&self) -> u64 {
        self.block.max(1)
    }

    /// Price of using `units` (started blocks are charged).
    pub fn cost(&self, units: u64) -> i64 {
        self.cost_at_price(units, self.price)
    }

    /// Price of using `units` at `price` per block.
    pub fn cost_at_price(&self, units: u64, price: i64) -> i64 {
        let blocks = units.div_ceil(self.block());
        i64::try_from(blocks)
            .unwrap_or(i64::MAX)
            .saturating_mul(price.max(0))
    }

    /// The bands as (second of the day, price), sorted by start.
    fn band_table(&self) -> Vec<(i64, i64)> {
        let mut b: Vec<(i64, i64)> = self
            .bands
            .iter()
            .filter_map(|b| b.start_second().map(|s| (s, b.price)))
            .collect();
        b.sort_unstable();
        b
    }

    /// The price per block at `unix_s` (seconds since the Unix epoch): the band's, else
    /// `price`.
    pub fn price_at(&self, unix_s: i64) -> i64 {
        let table = self.band_table();
        let sec = unix_s.rem_euclid(DAY);
        match table.iter().rev().find(|(start, _)| *start <= sec) {
            Some((_, p)) => *p,
            None => table.last().map_or(self.price, |(_, p)| *p),
        }
    }

    /// The first band boundary after `unix_s` (exclusive) at which the price changes, if
    /// one comes within a day.
    pub fn next_change(&self, unix_s: i64) -> Option<i64> {
        let table = self.band_table();
        let day = unix_s.div_euclid(DAY) * DAY;
        let now = self.price_at(unix_s);
        (0..2)
            .flat_map(|d| table.iter().map(move |(s, _)| day + d * DAY + s))
            .filter(|t| *t > unix_s && *t <= unix_s + DAY)
            .find(|t| self.price_at(*t) != now)
    }

    /// The last band boundary at or before `unix_s` at which the price changed, if one was
    /// within a day.
    pub fn last_change(&self, unix_s: i64) -> Option<i64> {
        let table = self.band_table();
        let day = unix_s.div_euclid(DAY) * DAY;
        (-1..1)
            .rev()
            .flat_map(|d| table.iter().rev().map(move |(s, _)| day + d * DAY + s))
            .filter(|t| *t <= unix_s && *t > unix_s - DAY)
            .find(|t| self.price_at(*t) != self.price_at(t - 1))
    }

    /// This tariff as it prices a grant made at `unix_s` valid for `horizon_s` seconds:
    /// the band's price, or the higher of it and the next band's when that starts within
    /// the horizon (so the reservation covers either), with the boundary.
    pub fn at(&self, unix_s: i64, horizon_s: i64) -> (Tariff, Option<i64>) {
        let mut t = self.clone();
        if self.bands.is_empty() {
            return (t, None);
        }
        t.price = self.price_at(unix_s);
        let change = self
            .next_change(unix_s)
            .filter(|c| *c <= unix_s.saturating_add(horizon_s));
        if let Some(c) = change {
            t.price = t.price.max(self.price_at(c));
        }
        (t, change)
    }

    /// Units that `money` buys, in whole blocks (unbounded for a free tariff).
    pub fn units_for(&self, money: i64) -> u64 {
        if self.price <= 0 {
            return u64::MAX;
        }
        let blocks = u64::try_from(money.max(0) / self.price).unwrap_or(0);
        blocks.saturating_mul(self.block())
    }

    /// Units to grant for a request of `requested` (or the default quota), rounded up to
    /// whole blocks.
    pub fn quota(&self, requested: Option<u64>) -> u64 {
        let want = requested.or(self.default_quota).unwrap_or(self.block());
        want.div_ceil(self.block()).saturating_mul(self.block())
    }

    /// Checks the pool, bands and Quota-Consumption-Time settings.
    fn check_extensions(&self) -> Result<(), String> {
        if let Some(p) = &self.pool {
            if p.unit_value().is_none() {
                return Err(format!(
                    "pool multiplier `{}` is not a decimal > 0",
                    p.multiplier
                ));
            }
        }
        for b in &self.bands {
            if b.start_second().is_none() || b.price < 0 {
                return Err(format!(
                    "band `{}`: start must be \"HH:MM\" and price >= 0",
                    b.start
                ));
            }
        }
        if self.quota_consumption_time.is_some() && self.unit != UnitType::Time {
            return Err("quota_consumption_time needs unit = \"time\"".into());
        }
        Ok(())
    }

    fn score(&self, ctx: &str, sid: Option<u32>, rg: Option<u32>) -> Option<u32> {
        let mut score = 0;
        if let Some(c) = &self.service_context_id {
            if c != ctx {
                return None;
            }
            score += 1;
        }
        if let Some(s) = self.service_identifier {
            if Some(s) != sid {
                return None;
            }
            score += 2;
        }
        if let Some(r) = self.rating_group {
            if Some(r) != rg {
                return None;
            }
            score += 4;
        }
        Some(score)
    }
}

/// The tariff table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariffs {
    /// ISO 4217 numeric currency code of all prices.
    #[serde(default = "eur")]
    pub currency: u32,
    /// Decimal exponent of the minor unit (2: cents), for Unit-Value on the wire.
    #[serde(default = "two")]
    pub exponent: i32,
    /// The tariffs.
    #[serde(default, rename = "tariff")]
    pub tariffs: Vec<Tariff>,
}

fn eur() -> u32 {
    978
}

fn two() -> i32 {
    2
}

impl Default for Tariffs {
    fn default() -> Self {
        Tariffs {
            currency: eur(),
            exponent: two(),
            tariffs: Vec::new(),
        }
    }
}

/// A bad tariffs file.
#[derive(Debug, thiserror::Error)]
#[error("tariffs: {0}")]
pub struct RatingConfigError(pub String);

impl Tariffs {
    /// Parses the TOML text of a tariffs file.
    pub fn parse(text: &str) -> Result<Tariffs, RatingConfigError> {
        let t: Tariffs = toml::from_str(text).map_err(|e| RatingConfigError(e.to_string()))?;
        for tariff in &t.tariffs {
            if tariff.price < 0 || tariff.block == 0 {
                return Err(RatingConfigError(format!(
                    "tariff `{}`: price must be >= 0 and block >= 1",
                    tariff.name
                )));
            }
            if let Some(f) = &tariff.final_unit {
                f.check()
                    .map_err(|e| RatingConfigError(format!("tariff `{}`: {e}", tariff.name)))?;
            }
            tariff
                .check_extensions()
                .map_err(|e| RatingConfigError(format!("tariff `{}`: {e}", tariff.name)))?;
        }
        Ok(t)
    }

    /// The (currency, exponent) of a tariff's prices: its own, else the file's.
    pub fn money_of(&self, tariff: &Tariff) -> (u32, i32) {
        (
            tariff.currency.unwrap_or(self.currency),
            tariff.exponent.unwrap_or(self.exponent),
        )
    }

    /// A Unit-Value (`value_digits` × 10^`exponent`) in a tariff's minor units, rounded
    /// down; `None` when it does not fit or is negative.
    pub fn minor_units(&self, tariff: &Tariff, value_digits: i64, exponent: i32) -> Option<i64> {
        let (_, minor) = self.money_of(tariff);
        let shift = exponent.checked_add(minor)?;
        let ten = 10i64.checked_pow(shift.unsigned_abs())?;
        let v = if shift >= 0 {
            value_digits.checked_mul(ten)?
        } else {
            value_digits / ten
        };
        (v >= 0).then_some(v)
    }

    /// Reads and parses a tariffs file.
    pub fn load(path: &std::path::Path) -> Result<Tariffs, RatingConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RatingConfigError(format!("{}: {e}", path.display())))?;
        Tariffs::parse(&text)
    }

    /// The tariff for a service, preferring one whose unit type is in `units` (see the
    /// module docs); `None` when nothing applies (the server answers 5031 RATING_FAILED).
    pub fn find(
        &self,
        service_context_id: &str,
        service_identifier: Option<u32>,
        rating_group: Option<u32>,
        units: &[UnitType],
    ) -> Option<&Tariff> {
        // One pass, no allocation (this runs for every CCR): the best score so far, the
        // first tariff with it, and the first with it whose unit is in `units`.
        let mut best: Option<(u32, &Tariff, Option<&Tariff>)> = None;
        for t in &self.tariffs {
            let Some(score) = t.score(service_context_id, service_identifier, rating_group) else {
                continue;
            };
            let fits = units.contains(&t.unit).then_some(t);
            match &mut best {
                Some((b, _, with_unit)) if *b == score => *with_unit = with_unit.or(fits),
                Some((b, _, _)) if *b > score => {}
                _ => best = Some((score, t, fits)),
            }
        }
        best.map(|(_, first, with_unit)| with_unit.unwrap_or(first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Tariffs {
        Tariffs::parse(
            r#"
[[tariff]]
name = "data"
rating_group = 100
unit = "total_octets"
block = 1000
price = 2
default_quota = 5000
[[tariff]]
name = "data-time"
rating_group = 100
unit = "time"
block = 60
price = 1
[[tariff]]
name = "any"
unit = "service_specific"
price = 5
[[tariff]]
name = "sms"
service_context_id = "32274@3gpp.org"
service_identifier = 1
unit = "service_specific"
price = 9
"#,
        )
        .unwrap()
    }

    #[test]
    fn most_specific_and_unit_preference() {
        let t = table();
        let f = |ctx, sid, rg, u: &[UnitType]| t.find(ctx, sid, rg, u).unwrap().name.clone();
        assert_eq!(f("x", None, Some(100), &[]), "data");
        assert_eq!(f("x", None, Some(100), &[UnitType::Time]), "data-time");
        assert_eq!(f("x", None, Some(7), &[]), "any");
        assert_eq!(f("32274@3gpp.org", Some(1), None, &[]), "sms");
        assert_eq!(f("32274@3gpp.org", Some(2), None, &[]), "any");
        assert!(Tariffs::default().find("x", None, None, &[]).is_none());
    }

    #[test]
    fn costs_and_quotas() {
        let t = table();
        let data = &t.tariffs[0];
        assert_eq!(data.cost(0), 0);
        assert_eq!(data.cost(1), 2);
        assert_eq!(data.cost(1000), 2);
        assert_eq!(data.cost(1001), 4);
        assert_eq!(data.units_for(5), 2000);
        assert_eq!(data.quota(None), 5000);
        assert_eq!(data.quota(Some(1500)), 2000);
        assert!(Tariffs::parse("[[tariff]]\nunit=\"time\"\nprice=-1\n").is_err());
        assert!(Tariffs::parse("[[tariff]]\nunit=\"furlongs\"\nprice=1\n").is_err());
    }

    #[test]
    fn currency_per_tariff_or_the_files() {
        let t = Tariffs::parse(
            "currency = 978\nexponent = 2\n[[tariff]]\nunit=\"time\"\nprice=1\n\
             [[tariff]]\nunit=\"time\"\nprice=1\ncurrency = 392\nexponent = 0\n",
        )
        .unwrap();
        assert_eq!(t.money_of(&t.tariffs[0]), (978, 2));
        assert_eq!(t.money_of(&t.tariffs[1]), (392, 0));
    }

    #[test]
    fn final_unit_policies_are_checked() {
        let ok = Tariffs::parse(
            "[[tariff]]\nunit=\"time\"\nprice=1\n[tariff.final_unit]\naction = \"redirect\"\n\
             redirect_address = \"sip:topup@example.net\"\nredirect_address_type = \"sip_uri\"\n",
        )
        .unwrap();
        let f = ok.tariffs[0].final_unit.as_ref().unwrap();
        assert_eq!(
            (f.action, f.redirect_address_type),
            (FinalAction::Redirect, RedirectKind::SipUri)
        );
        let bad = |policy: &str| {
            Tariffs::parse(&format!(
                "[[tariff]]\nunit=\"time\"\nprice=1\n[tariff.final_unit]\n{policy}\n"
            ))
            .is_err()
        };
        assert!(bad("action = \"redirect\""));
        assert!(bad("action = \"restrict_access\""));
        assert!(bad(
            "action = \"restrict_access\"\nrestriction_filter_rule = [\"allow all\"]"
        ));
        assert!(bad("action = \"terminate\"\nfilter_id = [\"x\"]"));
        assert!(bad("action = \"terminate\"\ncolour = 1"));
        assert!(!bad(
            "action = \"restrict_access\"\nfilter_id = [\"garden\"]"
        ));
        assert!(!bad("action = \"terminate\""));
    }

    #[test]
    fn unit_values_in_minor_units() {
        let t = Tariffs::parse("exponent = 2\n[[tariff]]\nunit=\"time\"\nprice=1\n").unwrap();
        let tariff = &t.tariffs[0];
        assert_eq!(t.minor_units(tariff, 150, -2), Some(150)); // 1.50 = 150 cents
        assert_eq!(t.minor_units(tariff, 3, 0), Some(300)); // 3 = 300 cents
        assert_eq!(t.minor_units(tariff, 1234, -3), Some(123)); // 1.234 rounds down
        assert_eq!(t.minor_units(tariff, -1, 0), None);
        assert_eq!(t.minor_units(tariff, i64::MAX, 0), None);
        assert_eq!(t.minor_units(tariff, 1, i32::MAX), None);
    }

    #[test]
    fn bands_price_by_time_of_day_and_name_the_next_change() {
        let t = Tariffs::parse(
            "[[tariff]]\nunit=\"time\"\nprice=7\nbands = [{ start = \"20:00\", price = 1 }, \
             { start = \"08:00\", price = 3 }]\n",
        )
        .unwrap();
        let v = &t.tariffs[0];
        let day = 19_000 * 86_400;
        assert_eq!(v.price_at(day + 7 * 3600), 1); // before the first band: the last one's
        assert_eq!(v.price_at(day + 8 * 3600), 3);
        assert_eq!(v.price_at(day + 21 * 3600), 1);
        assert_eq!(v.next_change(day + 19 * 3600), Some(day + 20 * 3600));
        assert_eq!(
            v.next_change(day + 21 * 3600),
            Some(day + 86_400 + 8 * 3600)
        );
        assert_eq!(v.last_change(day + 9 * 3600), Some(day + 8 * 3600));
        assert_eq!(v.last_change(day + 3600), Some(day - 4 * 3600));
        // A grant within an hour of 20:00 reserves at the higher price and names 20:00.
        let (g, change) = v.at(day + 19 * 3600 + 1800, 3600);
        assert_eq!((g.price, change), (3, Some(day + 20 * 3600)));
        let (g, change) = v.at(day + 12 * 3600, 3600);
        assert_eq!((g.price, change), (3, None));
        // Without bands nothing changes.
        let plain = Tariffs::parse("[[tariff]]\nunit=\"time\"\nprice=7\n").unwrap();
        assert_eq!(plain.tariffs[0].price_at(day), 7);
        assert_eq!(plain.tariffs[0].next_change(day), None);
        assert!(Tariffs::parse(
            "[[tariff]]\nunit=\"time\"\nprice=1\nbands = [{ start = \"25:00\", price = 1 }]\n"
        )
        .is_err());
    }

    #[test]
    fn pools_triggers_and_consumption_time_are_checked() {
        let t = Tariffs::parse(
            "[[tariff]]\nunit=\"time\"\nprice=1\nquota_consumption_time = 10\n\
             triggers = [\"change_in_qos\", \"change_in_rat\"]\npool = { id = 4, multiplier = \"0.25\" }\n",
        )
        .unwrap();
        let v = &t.tariffs[0];
        assert_eq!(v.pool.as_ref().unwrap().unit_value(), Some((25, -2)));
        assert_eq!(
            v.triggers,
            vec![TriggerKind::ChangeInQos, TriggerKind::ChangeInRat]
        );
        assert_eq!(v.triggers[1].code(), 4);
        assert!(Tariffs::parse(
            "[[tariff]]\nunit=\"total_octets\"\nprice=1\nquota_consumption_time = 10\n"
        )
        .is_err());
        assert!(Tariffs::parse(
            "[[tariff]]\nunit=\"time\"\nprice=1\npool = { id = 1, multiplier = \"-1\" }\n"
        )
        .is_err());
        assert_eq!(parse_decimal("3"), Some((3, 0)));
        assert_eq!(parse_decimal("x"), None);
    }
}
