//! The end of a STATE_MAINTAINED session, client side (RFC 6733 §8.4–8.5): STR when the
//! SIP server ends a session (deregistration, [`super::Authorization::Ended`], an ASR),
//! and the ASA for the Diameter server's ASR.

use super::{events::SipServerEvents, ClientError, SipClient, SipResult, Transport};
use crate::sip::server::APPLICATION_ID;
use diameter::dict::base_rfc6733::{Asa, Asr, Sta, Str, TerminationCause};
use diameter_core::node::{typed, Node, NodeBuilder};
use std::sync::{Arc, OnceLock};

/// An Abort-Session-Request, read.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionAbort {
    /// The session to end.
    pub session_id: String,
    /// User-Name, when the ASR has one.
    pub user_name: Option<String>,
}

impl SessionAbort {
    /// Reads an ASR.
    pub fn from_asr(asr: &Asr) -> Self {
        SessionAbort {
            session_id: asr.session_id.as_str().to_string(),
            user_name: asr.user_name.as_ref().map(|u| u.as_str().to_string()),
        }
    }
}

/// The ASA for an ASR, from the handler's decision.
pub fn answer_asr(
    asr: &Asr,
    origin_host: &str,
    origin_realm: &str,
    events: &dyn SipServerEvents,
) -> Asa {
    let result = events.abort_session(&SessionAbort::from_asr(asr));
    Asa {
        session_id: asr.session_id.clone(),
        result_code: result.code(),
        origin_host: origin_host.into(),
        origin_realm: origin_realm.into(),
        proxy_info: asr.proxy_info.clone(),
        ..Default::default()
    }
}

/// The STR ending `session_id`, addressed to the Diameter server `destination_host`
/// (when known) in `destination_realm`.
pub fn build_str(
    session_id: &str,
    cause: TerminationCause,
    origin: (&str, &str),
    destination_host: Option<&str>,
    destination_realm: &str,
) -> Str {
    Str {
        session_id: session_id.into(),
        origin_host: origin.0.into(),
        origin_realm: origin.1.into(),
        destination_realm: destination_realm.into(),
        destination_host: destination_host.map(Into::into),
        auth_application_id: APPLICATION_ID,
        termination_cause: cause,
        ..Default::default()
    }
}

impl<T: Transport> SipClient<T> {
    /// STR (RFC 6733 §8.4): tells the Diameter server that the STATE_MAINTAINED session
    /// `session_id` ended (a deregistration, the [`super::AuthTimer`] reached
    /// [`super::Authorization::Ended`]: `DIAMETER_AUTH_EXPIRED`, an ASR:
    /// `DIAMETER_ADMINISTRATIVE`); returns the STA's result (5002 for a session the server
    /// does not keep).
    pub async fn terminate(
        &self,
        session_id: &str,
        cause: TerminationCause,
    ) -> Result<SipResult, ClientError> {
        let cfg = self.config();
        let req = build_str(
            session_id,
            cause,
            (&cfg.origin_host, &cfg.origin_realm),
            cfg.destination_host.as_deref(),
            &cfg.destination_realm,
        );
        let sta: Sta = self.call(&req).await?;
        Ok(SipResult::from(sta.result_code))
    }
}

/// Registers the ASR handler of a SIP server's node: the ASA comes from
/// [`SipServerEvents::abort_session`]; when that says [`SipResult::Success`] the node (put
/// into `node` once built) sends the STR (DIAMETER_ADMINISTRATIVE) to the Diameter server
/// that sent the ASR, as RFC 6733 §8.5 asks.
pub fn register_abort(
    builder: NodeBuilder,
    origin_host: &str,
    origin_realm: &str,
    events: Arc<dyn SipServerEvents>,
    node: Arc<OnceLock<Node>>,
) -> NodeBuilder {
    let (host, realm) = (origin_host.to_string(), origin_realm.to_string());
    builder.handler(
        APPLICATION_ID,
        <Asr as diameter_core::Command>::CODE,
        typed(move |asr: Asr| {
            let (host, realm, events, node) =
                (host.clone(), realm.clone(), events.clone(), node.clone());
            async move {
                let asa = answer_asr(&asr, &host, &realm, events.as_ref());
                if asa.result_code == SipResult::Success.code() {
                    let req = build_str(
                        asr.session_id.as_str(),
                        TerminationCause::DiameterAdministrative,
                        (&host, &realm),
                        Some(asr.origin_host.as_str()),
                        asr.origin_realm.as_str(),
                    );
                    tokio::spawn(async move {
                        let Some(node) = node.get() else {
                            tracing::warn!("sip: ASR before the node was set; no STR sent");
                            return;
                        };
                        match node.send::<Str, Sta>(&req, APPLICATION_ID).await {
                            Ok(sta) => {
                                tracing::info!(session = %req.session_id, result = sta.result_code, "sip: STR after ASR answered")
                            }
                            Err(e) => tracing::warn!(error = %e, "sip: STR after ASR failed"),
                        }
                    });
                }
                asa
            }
        }),
    )
}
