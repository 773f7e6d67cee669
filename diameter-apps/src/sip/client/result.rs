//! Result-Codes of the SIP application as a Rust enum.

use diameter::dict::base_rfc6733::result_code as base;
use diameter::dict::sip_rfc4740::result_code as rc;

/// The Result-Code of a SIP application answer (RFC 4740 §10.1 and the RFC 6733 codes
/// it uses), so callers match on meaning rather than numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SipResult {
    /// 1001 DIAMETER_MULTI_ROUND_AUTH: a challenge; send credentials in another MAR.
    MultiRoundAuth,
    /// 2001 DIAMETER_SUCCESS.
    Success,
    /// 2003 DIAMETER_FIRST_REGISTRATION: no SIP server known; select one by capabilities.
    FirstRegistration,
    /// 2004 DIAMETER_SUBSEQUENT_REGISTRATION: use the returned SIP server.
    SubsequentRegistration,
    /// 2005 DIAMETER_UNREGISTERED_SERVICE: not registered, but has unregistered services.
    UnregisteredService,
    /// 2006 DIAMETER_SUCCESS_SERVER_NAME_NOT_STORED.
    SuccessServerNameNotStored,
    /// 2007 DIAMETER_SERVER_SELECTION: a server is known; a new one may be selected.
    ServerSelection,
    /// 2008 DIAMETER_SUCCESS_AUTH_SENT_SERVER_NOT_STORED.
    SuccessAuthSentServerNotStored,
    /// 4001 DIAMETER_AUTHENTICATION_REJECTED: wrong credentials.
    AuthenticationRejected,
    /// 4013 DIAMETER_USER_NAME_REQUIRED: challenge the user, then retry with User-Name.
    UserNameRequired,
    /// 5003 DIAMETER_AUTHORIZATION_REJECTED.
    AuthorizationRejected,
    /// 5012 DIAMETER_UNABLE_TO_COMPLY.
    UnableToComply,
    /// 5032 DIAMETER_ERROR_USER_UNKNOWN.
    UserUnknown,
    /// 5033 DIAMETER_ERROR_IDENTITIES_DONT_MATCH.
    IdentitiesDontMatch,
    /// 5034 DIAMETER_ERROR_IDENTITY_NOT_REGISTERED.
    IdentityNotRegistered,
    /// 5035 DIAMETER_ERROR_ROAMING_NOT_ALLOWED.
    RoamingNotAllowed,
    /// 5036 DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED.
    IdentityAlreadyRegistered,
    /// 5037 DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED.
    AuthSchemeNotSupported,
    /// 5038 DIAMETER_ERROR_IN_ASSIGNMENT_TYPE.
    InAssignmentType,
    /// 5039 DIAMETER_ERROR_TOO_MUCH_DATA.
    TooMuchData,
    /// 5040 DIAMETER_ERROR_NOT_SUPPORTED_USER_DATA.
    NotSupportedUserData,
    /// Any other code.
    Other(u32),
}

const TABLE: &[(SipResult, u32)] = &[
    (SipResult::MultiRoundAuth, base::DIAMETER_MULTI_ROUND_AUTH),
    (SipResult::Success, base::DIAMETER_SUCCESS),
    (
        SipResult::FirstRegistration,
        rc::DIAMETER_FIRST_REGISTRATION,
    ),
    (
        SipResult::SubsequentRegistration,
        rc::DIAMETER_SUBSEQUENT_REGISTRATION,
    ),
    (
        SipResult::UnregisteredService,
        rc::DIAMETER_UNREGISTERED_SERVICE,
    ),
    (
        SipResult::SuccessServerNameNotStored,
        rc::DIAMETER_SUCCESS_SERVER_NAME_NOT_STORED,
    ),
    (SipResult::ServerSelection, rc::DIAMETER_SERVER_SELECTION),
    (
        SipResult::SuccessAuthSentServerNotStored,
        rc::DIAMETER_SUCCESS_AUTH_SENT_SERVER_NOT_STORED,
    ),
    (
        SipResult::AuthenticationRejected,
        base::DIAMETER_AUTHENTICATION_REJECTED,
    ),
    (SipResult::UserNameRequired, rc::DIAMETER_USER_NAME_REQUIRED),
    (
        SipResult::AuthorizationRejected,
        base::DIAMETER_AUTHORIZATION_REJECTED,
    ),
    (SipResult::UnableToComply, base::DIAMETER_UNABLE_TO_COMPLY),
    (SipResult::UserUnknown, rc::DIAMETER_ERROR_USER_UNKNOWN),
    (
        SipResult::IdentitiesDontMatch,
        rc::DIAMETER_ERROR_IDENTITIES_DONT_MATCH,
    ),
    (
        SipResult::IdentityNotRegistered,
        rc::DIAMETER_ERROR_IDENTITY_NOT_REGISTERED,
    ),
    (
        SipResult::RoamingNotAllowed,
        rc::DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
    ),
    (
        SipResult::IdentityAlreadyRegistered,
        rc::DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED,
    ),
    (
        SipResult::AuthSchemeNotSupported,
        rc::DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED,
    ),
    (
        SipResult::InAssignmentType,
        rc::DIAMETER_ERROR_IN_ASSIGNMENT_TYPE,
    ),
    (SipResult::TooMuchData, rc::DIAMETER_ERROR_TOO_MUCH_DATA),
    (
        SipResult::NotSupportedUserData,
        rc::DIAMETER_ERROR_NOT_SUPPORTED_USER_DATA,
    ),
];

impl SipResult {
    /// The meaning of a Result-Code.
    pub fn from_code(code: u32) -> Self {
        TABLE
            .iter()
            .find(|(_, c)| *c == code)
            .map(|(r, _)| *r)
            .unwrap_or(SipResult::Other(code))
    }

    /// The Result-Code.
    pub fn code(self) -> u32 {
        match self {
            SipResult::Other(c) => c,
            r => TABLE
                .iter()
                .find(|(x, _)| *x == r)
                .map(|(_, c)| *c)
                .unwrap_or(base::DIAMETER_UNABLE_TO_COMPLY),
        }
    }

    /// Whether the request succeeded (1xxx informational or 2xxx).
    pub fn is_success(self) -> bool {
        (1000..3000).contains(&self.code())
    }
}

impl From<u32> for SipResult {
    fn from(code: u32) -> Self {
        SipResult::from_code(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip() {
        for (r, c) in TABLE {
            assert_eq!(SipResult::from_code(*c), *r);
            assert_eq!(r.code(), *c);
        }
        assert_eq!(SipResult::from_code(3002), SipResult::Other(3002));
        assert_eq!(SipResult::Other(3002).code(), 3002);
        assert!(SipResult::FirstRegistration.is_success());
        assert!(!SipResult::UserUnknown.is_success());
        assert_eq!(SipResult::from(5033), SipResult::IdentitiesDontMatch);
    }
}
