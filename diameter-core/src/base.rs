//! Codes of the RFC 6733 base protocol that the runtime needs without a dictionary.
//!
//! The generated `base_rfc6733` module documents the same codes with their grammars;
//! these constants let the peer state machine and the router build and read the
//! base messages (CER/CEA, DWR/DWA, DPR/DPA) with [`crate::RawAvp`] alone.

/// Command codes (RFC 6733 §3.1).
pub mod command {
    /// Capabilities-Exchange-Request/Answer.
    pub const CAPABILITIES_EXCHANGE: u32 = 257;
    /// Device-Watchdog-Request/Answer.
    pub const DEVICE_WATCHDOG: u32 = 280;
    /// Disconnect-Peer-Request/Answer.
    pub const DISCONNECT_PEER: u32 = 282;

    /// Whether a command code belongs to the peer connection itself (CER, DWR, DPR),
    /// which is never routed or handed to applications.
    pub fn is_base_peer_command(code: u32) -> bool {
        matches!(
            code,
            CAPABILITIES_EXCHANGE | DEVICE_WATCHDOG | DISCONNECT_PEER
        )
    }
}

/// Application-Ids (RFC 6733 §2.4).
pub mod app {
    /// Diameter common messages (the base protocol).
    pub const COMMON: u32 = 0;
    /// The relay application: a relay advertises it and accepts every application.
    pub const RELAY: u32 = 0xffff_ffff;
}

/// AVP codes of the base protocol (RFC 6733 §4.5).
pub mod avp {
    /// Proxy-State (OctetString).
    pub const PROXY_STATE: u32 = 33;
    /// Host-IP-Address (Address).
    pub const HOST_IP_ADDRESS: u32 = 257;
    /// Auth-Application-Id (Unsigned32).
    pub const AUTH_APPLICATION_ID: u32 = 258;
    /// Acct-Application-Id (Unsigned32).
    pub const ACCT_APPLICATION_ID: u32 = 259;
    /// Vendor-Specific-Application-Id (Grouped).
    pub const VENDOR_SPECIFIC_APPLICATION_ID: u32 = 260;
    /// Redirect-Host-Usage (Enumerated).
    pub const REDIRECT_HOST_USAGE: u32 = 261;
    /// Redirect-Max-Cache-Time (Unsigned32).
    pub const REDIRECT_MAX_CACHE_TIME: u32 = 262;
    /// Session-Id (UTF8String).
    pub const SESSION_ID: u32 = 263;
    /// Origin-Host (DiameterIdentity).
    pub const ORIGIN_HOST: u32 = 264;
    /// Supported-Vendor-Id (Unsigned32).
    pub const SUPPORTED_VENDOR_ID: u32 = 265;
    /// Vendor-Id (Unsigned32).
    pub const VENDOR_ID: u32 = 266;
    /// Firmware-Revision (Unsigned32).
    pub const FIRMWARE_REVISION: u32 = 267;
    /// Result-Code (Unsigned32).
    pub const RESULT_CODE: u32 = 268;
    /// Product-Name (UTF8String).
    pub const PRODUCT_NAME: u32 = 269;
    /// Disconnect-Cause (Enumerated).
    pub const DISCONNECT_CAUSE: u32 = 273;
    /// Origin-State-Id (Unsigned32).
    pub const ORIGIN_STATE_ID: u32 = 278;
    /// Failed-AVP (Grouped).
    pub const FAILED_AVP: u32 = 279;
    /// Proxy-Host (DiameterIdentity).
    pub const PROXY_HOST: u32 = 280;
    /// Error-Message (UTF8String).
    pub const ERROR_MESSAGE: u32 = 281;
    /// Route-Record (DiameterIdentity).
    pub const ROUTE_RECORD: u32 = 282;
    /// Destination-Realm (DiameterIdentity).
    pub const DESTINATION_REALM: u32 = 283;
    /// Proxy-Info (Grouped).
    pub const PROXY_INFO: u32 = 284;
    /// Redirect-Host (DiameterURI).
    pub const REDIRECT_HOST: u32 = 292;
    /// Destination-Host (DiameterIdentity).
    pub const DESTINATION_HOST: u32 = 293;
    /// Error-Reporting-Host (DiameterIdentity).
    pub const ERROR_REPORTING_HOST: u32 = 294;
    /// Origin-Realm (DiameterIdentity).
    pub const ORIGIN_REALM: u32 = 296;
    /// Inband-Security-Id (Unsigned32).
    pub const INBAND_SECURITY_ID: u32 = 299;
}

/// Disconnect-Cause values (RFC 6733 §5.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DisconnectCause {
    /// 0: a scheduled reboot; the receiver may reconnect.
    Rebooting,
    /// 1: the sender lacks resources; the receiver should not reconnect.
    Busy,
    /// 2: the sender expects no traffic; the receiver should not reconnect.
    DoNotWantToTalkToYou,
    /// Any other value, kept as sent.
    Other(i32),
}

impl DisconnectCause {
    /// The value on the wire.
    pub fn code(self) -> i32 {
        match self {
            DisconnectCause::Rebooting => 0,
            DisconnectCause::Busy => 1,
            DisconnectCause::DoNotWantToTalkToYou => 2,
            DisconnectCause::Other(v) => v,
        }
    }

    /// The cause for a wire value.
    pub fn from_code(v: i32) -> Self {
        match v {
            0 => DisconnectCause::Rebooting,
            1 => DisconnectCause::Busy,
            2 => DisconnectCause::DoNotWantToTalkToYou,
            v => DisconnectCause::Other(v),
        }
    }
}

/// Inband-Security-Id values (RFC 6733 §6.10).
pub mod inband_security {
    /// 0: no in-band security.
    pub const NO_INBAND_SECURITY: u32 = 0;
    /// 1: TLS started after the capabilities exchange (deprecated by RFC 6733).
    pub const TLS: u32 = 1;
}
