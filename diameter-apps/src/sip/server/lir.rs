//! Location-Info-Request (RFC 4740 §8.5, §8.6).

use super::{answer, capabilities_avp, store_failed, Caller, Server};
use crate::sip::member;
use crate::sip::store::StoreError;
use diameter::dict::base_rfc6733::result_code as base;
use diameter::dict::sip_rfc4740::{result_code as rc, Lia, Lir};

impl Server {
    /// Answers a LIR: 2001 with the SIP-Server-URI of the server assigned to the SIP-AOR;
    /// without one, 2005 UNREGISTERED_SERVICE (with SIP-Server-Capabilities when the user
    /// needs any) for users with services for the unregistered state, else 5034
    /// IDENTITY_NOT_REGISTERED; 5032 for an unknown AOR; 5003 for a peer that is not a
    /// listed SIP server (before any lookup).
    pub fn handle_lir(&self, caller: &Caller, req: &Lir) -> Lia {
        if let Err(code) = self.admit(caller) {
            return answer!(Lia, self, req, code);
        }
        match self.lir(req) {
            Ok(a) => a,
            Err(e) => answer!(Lia, self, req, store_failed("LIR", &e)),
        }
    }

    fn lir(&self, req: &Lir) -> Result<Lia, StoreError> {
        let aor = req.sip_aor.as_str();
        let Some(user) = self.store.user_by_aor(aor)? else {
            return Ok(answer!(Lia, self, req, rc::DIAMETER_ERROR_USER_UNKNOWN));
        };
        let server = self.store.registration(aor)?.and_then(|r| r.server_uri);
        Ok(match server {
            Some(uri) => {
                let mut a = answer!(Lia, self, req, base::DIAMETER_SUCCESS);
                a.sip_server_uri = Some(uri.into());
                a
            }
            None if user.unregistered_services => {
                let mut a = answer!(Lia, self, req, rc::DIAMETER_UNREGISTERED_SERVICE);
                let caps = &user.capabilities;
                if !(caps.mandatory.is_empty()
                    && caps.optional.is_empty()
                    && caps.servers.is_empty())
                {
                    a.sip_server_capabilities = Some(member(capabilities_avp(&user)));
                }
                a
            }
            None => answer!(Lia, self, req, rc::DIAMETER_ERROR_IDENTITY_NOT_REGISTERED),
        })
    }
}
