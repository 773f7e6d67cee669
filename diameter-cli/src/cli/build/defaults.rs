//! Defaults that make a request valid without typing every AVP: the base AVPs of any
//! command, and sensible values for CCR (Gy/Ro) and UAR (SIP).

use super::tree::Request;
use diameter_core::dictionary::EntryKind;

/// Who sends the request and where it goes.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Destination-Realm.
    pub destination_realm: String,
    /// Destination-Host, when asked for.
    pub destination_host: Option<String>,
}

/// Options of the CCR defaults.
#[derive(Clone, Debug)]
pub struct CcrOptions {
    /// CC-Request-Type name or number.
    pub request_type: String,
    /// CC-Request-Number.
    pub request_number: u32,
    /// Subscription-Id-Data (END_USER_E164).
    pub msisdn: String,
    /// CC-Total-Octets asked for in Requested-Service-Unit.
    pub octets: u64,
}

impl Default for CcrOptions {
    fn default() -> Self {
        CcrOptions {
            request_type: "INITIAL_REQUEST".into(),
            request_number: 0,
            msisdn: "46700000001".into(),
            octets: 1_000_000,
        }
    }
}

fn in_grammar(req: &Request, name: &str) -> Option<EntryKind> {
    req.command
        .request
        .entries
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(name))
        .map(|e| e.kind)
}

/// Fills the base AVPs the command's grammar asks for, when absent.
pub fn base(req: &mut Request, id: &Identity, session_id: &str) -> Result<(), String> {
    if in_grammar(req, "Session-Id").is_some() {
        req.default("Session-Id", session_id)?;
    }
    req.default("Origin-Host", &id.origin_host)?;
    req.default("Origin-Realm", &id.origin_realm)?;
    if in_grammar(req, "Destination-Realm").is_some() {
        req.default("Destination-Realm", &id.destination_realm)?;
    }
    if let Some(h) = &id.destination_host {
        req.default("Destination-Host", h)?;
    }
    let app = req.application_id.to_string();
    if matches!(in_grammar(req, "Auth-Application-Id"), Some(k) if k != EntryKind::Optional) {
        req.default("Auth-Application-Id", &app)?;
    }
    if matches!(in_grammar(req, "Acct-Application-Id"), Some(k) if k != EntryKind::Optional) {
        req.default("Acct-Application-Id", &app)?;
    }
    if matches!(in_grammar(req, "Auth-Session-State"), Some(k) if k != EntryKind::Optional) {
        req.default("Auth-Session-State", "NO_STATE_MAINTAINED")?;
    }
    Ok(())
}

/// The CCR defaults: Service-Context-Id 32251@3gpp.org (3GPP PS charging),
/// CC-Request-Type/Number, Event-Timestamp, an E.164 Subscription-Id, and for initial and
/// update requests one Multiple-Services-Credit-Control asking for `octets`; for events,
/// DIRECT_DEBITING of one service-specific unit.
pub fn ccr(req: &mut Request, o: &CcrOptions) -> Result<(), String> {
    req.default("Service-Context-Id", "32251@3gpp.org")?;
    req.default("CC-Request-Type", &o.request_type)?;
    req.default("CC-Request-Number", &o.request_number.to_string())?;
    req.default("Event-Timestamp", "now")?;
    if !req.has("Subscription-Id") {
        req.set(
            "Subscription-Id.Subscription-Id-Type",
            "END_USER_E164",
            false,
        )?;
        req.set("Subscription-Id.Subscription-Id-Data", &o.msisdn, false)?;
    }
    let kind = o.request_type.to_ascii_uppercase();
    let event = kind.starts_with("EVENT") || kind == "4";
    let session =
        kind.starts_with("INITIAL") || kind.starts_with("UPDATE") || kind == "1" || kind == "2";
    if event && !req.has("Requested-Service-Unit") && !req.has("Multiple-Services-Credit-Control") {
        req.default("Requested-Action", "DIRECT_DEBITING")?;
        req.set(
            "Requested-Service-Unit.CC-Service-Specific-Units",
            "1",
            false,
        )?;
    }
    if session && !req.has("Multiple-Services-Credit-Control") {
        req.default("Multiple-Services-Indicator", "MULTIPLE_SERVICES_SUPPORTED")?;
        req.set(
            "Multiple-Services-Credit-Control.Requested-Service-Unit.CC-Total-Octets",
            &o.octets.to_string(),
            false,
        )?;
    }
    Ok(())
}

/// The MAR defaults of a REGISTER (after [`uar`]): SIP-Method REGISTER, this SIP server's
/// SIP-Server-URI (`sip:HOST`), one Digest challenge asked for.
pub fn mar_register(req: &mut Request, server_host: &str) -> Result<(), String> {
    req.default("SIP-Method", "REGISTER")?;
    req.default("SIP-Server-URI", &format!("sip:{server_host}"))?;
    req.default("SIP-Number-Auth-Items", "1")?;
    if !req.has("SIP-Auth-Data-Item") {
        req.set(
            "SIP-Auth-Data-Item.SIP-Authentication-Scheme",
            "DIGEST",
            false,
        )?;
    }
    Ok(())
}

/// The SAR defaults of a first registration (after [`uar`]): SIP-Server-Assignment-Type
/// REGISTRATION, this SIP server's SIP-Server-URI (`sip:HOST`), user data not yet here.
pub fn sar_registration(req: &mut Request, server_host: &str) -> Result<(), String> {
    req.default("SIP-Server-Assignment-Type", "REGISTRATION")?;
    req.default("SIP-Server-URI", &format!("sip:{server_host}"))?;
    req.default("SIP-User-Data-Already-Available", "USER_DATA_NOT_AVAILABLE")?;
    Ok(())
}

/// The UAR defaults: SIP-AOR and User-Name of `user` in the destination realm.
pub fn uar(req: &mut Request, user: &str, realm: &str) -> Result<(), String> {
    let (name, domain) = user.split_once('@').unwrap_or((user, realm));
    req.default("SIP-AOR", &format!("sip:{name}@{domain}"))?;
    req.default("User-Name", &format!("{name}@{domain}"))?;
    Ok(())
}
