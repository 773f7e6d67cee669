//! What a node advertises in CER/CEA (RFC 6733 §5.3) and what it learns from its peer.

use crate::avp::{AvpFlags, RawAvp};
use crate::base::{app, avp, command};
use crate::error::{DecodeError, ErrorKind};
use crate::fields::{address_avp, grouped_avp, read_str, read_u32, str_avp, u32_avp};
use crate::header::{CommandFlags, Header};
use crate::message::RawMessage;
use crate::result_code as rc;
use crate::types::Address;
use crate::AvpValue;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// A Vendor-Specific-Application-Id: one vendor and an auth or acct application.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VendorApp {
    /// Vendor-Id.
    pub vendor_id: u32,
    /// Auth-Application-Id, if this is an authentication application.
    pub auth: Option<u32>,
    /// Acct-Application-Id, if this is an accounting application.
    pub acct: Option<u32>,
}

/// The capabilities one side advertises: the local node's configuration, or what the
/// peer sent in its CER/CEA.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Every Host-IP-Address.
    pub host_ip_addresses: Vec<IpAddr>,
    /// Vendor-Id.
    pub vendor_id: u32,
    /// Product-Name.
    pub product_name: String,
    /// Firmware-Revision.
    pub firmware_revision: Option<u32>,
    /// Origin-State-Id.
    pub origin_state_id: Option<u32>,
    /// Supported-Vendor-Ids.
    pub supported_vendor_ids: Vec<u32>,
    /// Auth-Application-Ids (0xffffffff is the relay application).
    pub auth_applications: Vec<u32>,
    /// Acct-Application-Ids.
    pub acct_applications: Vec<u32>,
    /// Vendor-Specific-Application-Ids.
    pub vendor_applications: Vec<VendorApp>,
    /// Inband-Security-Ids (0 = none).
    pub inband_security: Vec<u32>,
}

impl Capabilities {
    /// Every application id advertised, whichever AVP carried it.
    pub fn application_ids(&self) -> BTreeSet<u32> {
        let mut ids: BTreeSet<u32> = self
            .auth_applications
            .iter()
            .chain(&self.acct_applications)
            .copied()
            .collect();
        for v in &self.vendor_applications {
            ids.extend(v.auth.iter().chain(v.acct.iter()));
        }
        ids
    }

    /// Whether the relay application (0xffffffff) is advertised.
    pub fn is_relay(&self) -> bool {
        self.application_ids().contains(&app::RELAY)
    }

    /// The AVPs of a CER or CEA after Result-Code, in the order of the RFC grammar.
    pub fn to_avps(&self) -> Vec<RawAvp> {
        let mut v = vec![
            str_avp(avp::ORIGIN_HOST, &self.origin_host),
            str_avp(avp::ORIGIN_REALM, &self.origin_realm),
        ];
        v.extend(
            self.host_ip_addresses
                .iter()
                .map(|ip| address_avp(avp::HOST_IP_ADDRESS, *ip)),
        );
        v.push(u32_avp(avp::VENDOR_ID, self.vendor_id));
        let mut name = str_avp(avp::PRODUCT_NAME, &self.product_name);
        name.flags = 0; // Product-Name must not carry the M-bit.
        v.push(name);
        if let Some(s) = self.origin_state_id {
            v.push(u32_avp(avp::ORIGIN_STATE_ID, s));
        }
        v.extend(
            self.supported_vendor_ids
                .iter()
                .map(|id| u32_avp(avp::SUPPORTED_VENDOR_ID, *id)),
        );
        v.extend(
            self.auth_applications
                .iter()
                .map(|id| u32_avp(avp::AUTH_APPLICATION_ID, *id)),
        );
        v.extend(
            self.inband_security
                .iter()
                .map(|id| u32_avp(avp::INBAND_SECURITY_ID, *id)),
        );
        v.extend(
            self.acct_applications
                .iter()
                .map(|id| u32_avp(avp::ACCT_APPLICATION_ID, *id)),
        );
        for va in &self.vendor_applications {
            let mut members = vec![u32_avp(avp::VENDOR_ID, va.vendor_id)];
            members.extend(va.auth.map(|id| u32_avp(avp::AUTH_APPLICATION_ID, id)));
            members.extend(va.acct.map(|id| u32_avp(avp::ACCT_APPLICATION_ID, id)));
            v.push(grouped_avp(avp::VENDOR_SPECIFIC_APPLICATION_ID, &members));
        }
        if let Some(f) = self.firmware_revision {
            let mut fw = u32_avp(avp::FIRMWARE_REVISION, f);
            fw.flags = 0; // Firmware-Revision must not carry the M-bit.
            v.push(fw);
        }
        v
    }

    /// Reads the capabilities from a received CER or CEA. Origin-Host, Origin-Realm and
    /// Vendor-Id are required (5005); badly sized values are 5004 with the AVP as Failed-AVP.
    pub fn parse(msg: &RawMessage) -> Result<Capabilities, DecodeError> {
        let mut c = Capabilities::default();
        let (mut host, mut realm, mut vendor) = (false, false, false);
        for a in msg.avps() {
            let a = a?;
            if a.vendor != 0 {
                continue;
            }
            let bad = |reason| a.invalid_value("capabilities AVP", reason);
            let u32v = || read_u32(a.data()).ok_or_else(|| bad("an Unsigned32 must have 4 bytes"));
            let strv = || {
                read_str(a.data())
                    .map(str::to_owned)
                    .ok_or_else(|| bad("not valid UTF-8"))
            };
            match a.code {
                avp::ORIGIN_HOST => {
                    c.origin_host = strv()?;
                    host = true;
                }
                avp::ORIGIN_REALM => {
                    c.origin_realm = strv()?;
                    realm = true;
                }
                avp::HOST_IP_ADDRESS => {
                    let addr = Address::decode_value(&a).map_err(|e| bad(e.0))?;
                    c.host_ip_addresses.extend(addr.ip());
                }
                avp::VENDOR_ID => {
                    c.vendor_id = u32v()?;
                    vendor = true;
                }
                avp::PRODUCT_NAME => c.product_name = strv()?,
                avp::FIRMWARE_REVISION => c.firmware_revision = Some(u32v()?),
                avp::ORIGIN_STATE_ID => c.origin_state_id = Some(u32v()?),
                avp::SUPPORTED_VENDOR_ID => c.supported_vendor_ids.push(u32v()?),
                avp::AUTH_APPLICATION_ID => c.auth_applications.push(u32v()?),
                avp::ACCT_APPLICATION_ID => c.acct_applications.push(u32v()?),
                avp::INBAND_SECURITY_ID => c.inband_security.push(u32v()?),
                avp::VENDOR_SPECIFIC_APPLICATION_ID => {
                    let mut va = VendorApp {
                        vendor_id: 0,
                        auth: None,
                        acct: None,
                    };
                    for m in a.children() {
                        let m = m.map_err(|e| e.within(a.code, a.flags, a.vendor))?;
                        let v = read_u32(m.data())
                            .ok_or_else(|| bad("an Unsigned32 must have 4 bytes"));
                        match m.code {
                            avp::VENDOR_ID => va.vendor_id = v?,
                            avp::AUTH_APPLICATION_ID => va.auth = Some(v?),
                            avp::ACCT_APPLICATION_ID => va.acct = Some(v?),
                            _ => {}
                        }
                    }
                    c.vendor_applications.push(va);
                }
                _ => {}
            }
        }
        let m = AvpFlags::MANDATORY;
        if !host {
            return Err(DecodeError::missing(
                "Origin-Host",
                avp::ORIGIN_HOST,
                0,
                m,
                0,
            ));
        }
        if !realm {
            return Err(DecodeError::missing(
                "Origin-Realm",
                avp::ORIGIN_REALM,
                0,
                m,
                0,
            ));
        }
        if !vendor {
            return Err(DecodeError::missing("Vendor-Id", avp::VENDOR_ID, 0, m, 4));
        }
        if c.origin_host.is_empty() {
            return Err(DecodeError::new(ErrorKind::InvalidAvpValue {
                name: "Origin-Host",
                reason: "empty",
            }));
        }
        Ok(c)
    }
}

/// The applications two sides share, after a capabilities exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommonApplications {
    /// Application ids both advertised (relay excluded).
    pub ids: BTreeSet<u32>,
    /// Whether either side is a relay, so that every application may be exchanged.
    pub relay: bool,
}

impl CommonApplications {
    /// Negotiates: the intersection of the ids, or everything when either side
    /// advertises the relay application.
    pub fn negotiate(local: &Capabilities, remote: &Capabilities) -> Self {
        let (l, r) = (local.application_ids(), remote.application_ids());
        let relay = l.contains(&app::RELAY) || r.contains(&app::RELAY);
        let ids = if relay {
            l.union(&r)
                .copied()
                .filter(|id| *id != app::RELAY)
                .collect()
        } else {
            l.intersection(&r).copied().collect()
        };
        CommonApplications { ids, relay }
    }

    /// Whether no application is shared (5010).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && !self.relay
    }

    /// Whether a message of this application may be sent to or accepted from the peer.
    /// The common application (0) always may.
    pub fn supports(&self, application_id: u32) -> bool {
        application_id == app::COMMON || self.relay || self.ids.contains(&application_id)
    }
}

/// A CER from `local`.
pub fn cer(local: &Capabilities, hop_by_hop: u32, end_to_end: u32) -> RawMessage {
    let h = Header::new(
        command::CAPABILITIES_EXCHANGE,
        app::COMMON,
        CommandFlags::REQUEST,
        hop_by_hop,
        end_to_end,
    );
    RawMessage::from_avps(h, &local.to_avps())
}

/// A CEA answering `request` with `result_code`, optionally an Error-Message and Failed-AVP.
pub fn cea(
    local: &Capabilities,
    request: &Header,
    result_code: u32,
    error_message: Option<&str>,
    failed_avp: Option<&bytes::Bytes>,
) -> RawMessage {
    let flags = if rc::is_protocol_error(result_code) {
        CommandFlags::ERROR
    } else {
        0
    };
    let h = Header::new(
        command::CAPABILITIES_EXCHANGE,
        app::COMMON,
        flags,
        request.hop_by_hop,
        request.end_to_end,
    );
    let mut avps = vec![u32_avp(avp::RESULT_CODE, result_code)];
    avps.extend(local.to_avps());
    if let Some(text) = error_message {
        let mut e = str_avp(avp::ERROR_MESSAGE, text);
        e.flags = 0;
        avps.push(e);
    }
    if let Some(f) = failed_avp {
        avps.push(RawAvp::new(
            avp::FAILED_AVP,
            AvpFlags::MANDATORY,
            0,
            f.clone(),
        ));
    }
    RawMessage::from_avps(h, &avps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(host: &str, apps: &[u32]) -> Capabilities {
        Capabilities {
            origin_host: host.into(),
            origin_realm: "example.net".into(),
            host_ip_addresses: vec![
                "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
                "::1".parse().unwrap(),
            ],
            vendor_id: 10415,
            product_name: "test".into(),
            firmware_revision: Some(3),
            origin_state_id: Some(7),
            supported_vendor_ids: vec![10415],
            auth_applications: apps.to_vec(),
            acct_applications: vec![3],
            vendor_applications: vec![VendorApp {
                vendor_id: 10415,
                auth: Some(16777238),
                acct: None,
            }],
            inband_security: vec![0],
        }
    }

    #[test]
    fn cer_round_trips() {
        let c = caps("a.example.net", &[4]);
        let m = cer(&c, 1, 2);
        let m = RawMessage::decode(m.to_bytes(), &Default::default()).unwrap();
        assert_eq!(Capabilities::parse(&m).unwrap(), c);
    }

    #[test]
    fn negotiation() {
        let a = caps("a", &[4]);
        let mut b = caps("b", &[5]);
        b.acct_applications.clear();
        b.vendor_applications.clear();
        assert!(CommonApplications::negotiate(&a, &b).is_empty());
        b.auth_applications.push(app::RELAY);
        let n = CommonApplications::negotiate(&a, &b);
        assert!(n.relay && n.supports(4) && n.supports(99));
    }

    #[test]
    fn missing_origin_host_is_5005() {
        let m = RawMessage::from_avps(
            Header::new(257, 0, 0x80, 1, 1),
            &[u32_avp(avp::VENDOR_ID, 1)],
        );
        assert_eq!(
            Capabilities::parse(&m).unwrap_err().result_code(),
            rc::DIAMETER_MISSING_AVP
        );
    }
}
