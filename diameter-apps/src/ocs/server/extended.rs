//! The server over a user dictionary's CCR and CCA.
//!
//! A crate with its own dictionary that extends the Credit-Control command (see
//! `examples/custom-dictionary`) gets its own `Ccr`/`Cca` types with the vendor AVPs as typed
//! fields. [`ChargingServer::handle_extended_ccr`] takes such a request as it is (any type
//! implementing [`Command`] with the CCR's code) and answers in the user's answer type: the
//! server charges the standard view of the same message, where the vendor AVPs ride in the
//! `other` list (the `*[ AVP ]` of the RFC 4006 grammar), and fields the user's answer type
//! adds are left for the caller to fill.

use super::ChargingServer;
use diameter::dict::dcca_rfc4006::{Cca, Ccr};
use diameter_core::{Command, DecodeError};
use std::time::SystemTime;

/// Why a message could not be seen as another dictionary's type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The two types are different commands (code, request bit or application).
    #[error("{from} is not the same command as {to}")]
    OtherCommand {
        /// The short name of the type given.
        from: &'static str,
        /// The short name of the type wanted.
        to: &'static str,
    },
    /// The message does not decode as the wanted type (for example a vendor AVP with the
    /// M bit that the standard dictionary does not know: 5001).
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

/// The same message seen through another dictionary's type of the same command: encodes
/// `from` and decodes it as `To`. AVPs `To` does not name land in its `other` list.
pub fn view<From: Command, To: Command>(from: &From) -> Result<To, ViewError> {
    if From::CODE != To::CODE
        || From::REQUEST != To::REQUEST
        || From::APPLICATION_ID != To::APPLICATION_ID
    {
        return Err(ViewError::OtherCommand {
            from: From::SHORT_NAME,
            to: To::SHORT_NAME,
        });
    }
    Ok(To::decode(&from.to_message(From::APPLICATION_ID, 0, 0))?)
}

impl ChargingServer {
    /// [`ChargingServer::handle_ccr_from`] for a user dictionary's CCR type `Q`, answered
    /// as its CCA type `A` (see the [module docs](self)). Blocks on the store.
    pub fn handle_extended_ccr<Q: Command, A: Command>(
        &self,
        ccr: &Q,
        peer: &str,
        now: SystemTime,
    ) -> Result<A, ViewError> {
        let standard: Ccr = view(ccr)?;
        let cca: Cca = self.handle_ccr_from(standard, peer, now);
        view(&cca)
    }

    /// [`ChargingServer::handle_extended_ccr`] without blocking, as
    /// [`ChargingServer::handle_ccr_async`].
    pub async fn handle_extended_ccr_async<Q: Command, A: Command>(
        &self,
        ccr: &Q,
        peer: &str,
        now: SystemTime,
    ) -> Result<A, ViewError> {
        let standard: Ccr = view(ccr)?;
        let cca: Cca = self.handle_ccr_async(standard, peer, now).await;
        view(&cca)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter::dict::base_rfc6733::{Dwr, Str};

    #[test]
    fn another_command_is_refused_by_name() {
        let e = view::<Str, Ccr>(&Str::default()).unwrap_err();
        assert!(
            matches!(
                e,
                ViewError::OtherCommand {
                    from: "STR",
                    to: "CCR"
                }
            ),
            "{e}"
        );
        let e = view::<Ccr, Cca>(&Ccr::default()).unwrap_err();
        assert!(matches!(e, ViewError::OtherCommand { .. }), "{e}");
        assert!(view::<Dwr, Ccr>(&Dwr::default()).is_err());
    }

    #[test]
    fn the_same_command_round_trips() {
        let ccr = Ccr {
            session_id: "pgw;1;1".into(),
            origin_host: "pgw.example.net".into(),
            origin_realm: "example.net".into(),
            destination_realm: "example.net".into(),
            service_context_id: "32251@3gpp.org".into(),
            auth_application_id: 4,
            cc_request_number: 7,
            ..Default::default()
        };
        let back: Ccr = view(&ccr).unwrap();
        assert_eq!(back, ccr);
    }
}
