//! The RFC 6733 §7.1 result codes that the codec itself produces.
//!
//! The complete, documented set lives in the generated `base_rfc6733::result_code` module;
//! these are the few the runtime needs without a dictionary.

/// 2001: the request was successfully completed.
pub const DIAMETER_SUCCESS: u32 = 2001;
/// 3001: the command code is not supported.
pub const DIAMETER_COMMAND_UNSUPPORTED: u32 = 3001;
/// 3002: the request could not be delivered.
pub const DIAMETER_UNABLE_TO_DELIVER: u32 = 3002;
/// 3003: the destination realm is not served.
pub const DIAMETER_REALM_NOT_SERVED: u32 = 3003;
/// 3004: the node is too busy.
pub const DIAMETER_TOO_BUSY: u32 = 3004;
/// 3005: a routing loop was detected.
pub const DIAMETER_LOOP_DETECTED: u32 = 3005;
/// 3006: the request must be sent to the Redirect-Host.
pub const DIAMETER_REDIRECT_INDICATION: u32 = 3006;
/// 3007: the application is not supported.
pub const DIAMETER_APPLICATION_UNSUPPORTED: u32 = 3007;
/// 3008: the header has invalid bits set.
pub const DIAMETER_INVALID_HDR_BITS: u32 = 3008;
/// 3009: an AVP has invalid flag bits.
pub const DIAMETER_INVALID_AVP_BITS: u32 = 3009;
/// 3010: the peer is not known or not allowed.
pub const DIAMETER_UNKNOWN_PEER: u32 = 3010;
/// 4003: the peer lost the capabilities exchange election and closed the connection.
pub const ELECTION_LOST: u32 = 4003;
/// 5001: an AVP with the M-bit is not supported.
pub const DIAMETER_AVP_UNSUPPORTED: u32 = 5001;
/// 5002: the session is unknown.
pub const DIAMETER_UNKNOWN_SESSION_ID: u32 = 5002;
/// 5004: an AVP has an invalid value.
pub const DIAMETER_INVALID_AVP_VALUE: u32 = 5004;
/// 5005: a required AVP is missing.
pub const DIAMETER_MISSING_AVP: u32 = 5005;
/// 5008: an AVP is not allowed in this message.
pub const DIAMETER_AVP_NOT_ALLOWED: u32 = 5008;
/// 5009: an AVP occurs more often than allowed.
pub const DIAMETER_AVP_OCCURS_TOO_MANY_TIMES: u32 = 5009;
/// 5010: no application in common with the peer.
pub const DIAMETER_NO_COMMON_APPLICATION: u32 = 5010;
/// 5011: the Diameter version is not supported.
pub const DIAMETER_UNSUPPORTED_VERSION: u32 = 5011;
/// 5012: the request could not be processed.
pub const DIAMETER_UNABLE_TO_COMPLY: u32 = 5012;
/// 5014: an AVP has an invalid length.
pub const DIAMETER_INVALID_AVP_LENGTH: u32 = 5014;
/// 5015: the message length is invalid.
pub const DIAMETER_INVALID_MESSAGE_LENGTH: u32 = 5015;
/// 5016: an AVP flag combination is not allowed for this AVP.
pub const DIAMETER_INVALID_AVP_BIT_COMBO: u32 = 5016;
/// 5017: no security mechanism in common with the peer.
pub const DIAMETER_NO_COMMON_SECURITY: u32 = 5017;

/// Whether a Result-Code is a protocol error (3xxx), answered with the E-bit set.
pub fn is_protocol_error(code: u32) -> bool {
    (3000..4000).contains(&code)
}

/// Whether a Result-Code reports success (2xxx).
pub fn is_success(code: u32) -> bool {
    (2000..3000).contains(&code)
}
