//! Building the answer to a request that failed validation (RFC 6733 §7.2).

use crate::avp::{AvpFlags, RawAvp};
use crate::error::DecodeError;
use crate::header::{CommandFlags, Header};
use crate::message::RawMessage;
use crate::result_code::is_protocol_error;
use bytes::Bytes;

const SESSION_ID: u32 = 263;
const ORIGIN_HOST: u32 = 264;
const ORIGIN_REALM: u32 = 296;
const RESULT_CODE: u32 = 268;
const FAILED_AVP: u32 = 279;
const ERROR_MESSAGE: u32 = 281;
const PROXY_INFO: u32 = 284;

/// The identity a node answers with.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    /// Origin-Host.
    pub host: &'a str,
    /// Origin-Realm.
    pub realm: &'a str,
}

/// An answer to `request` with `result_code`: Session-Id echoed, Origin-Host/Realm,
/// Result-Code, an optional Error-Message and Failed-AVP, and Proxy-Info copied from the
/// request. The E-bit is set for protocol errors (3xxx), as RFC 6733 §7.1.3 requires.
pub fn answer_with(
    request: &RawMessage,
    origin: &Origin<'_>,
    result_code: u32,
    error_message: Option<&str>,
    failed_avp: Option<&Bytes>,
) -> RawMessage {
    let req = &request.header;
    let mut flags = req.flags & CommandFlags::PROXIABLE;
    if is_protocol_error(result_code) {
        flags |= CommandFlags::ERROR;
    }
    let header = Header::new(
        req.command_code,
        req.application_id,
        flags,
        req.hop_by_hop,
        req.end_to_end,
    );
    let m = AvpFlags::MANDATORY;
    let mut avps = Vec::with_capacity(8);
    // The request may be malformed; take what can be read of its top-level AVPs.
    let request_avps: Vec<_> = request.avps().map_while(Result::ok).collect();
    if let Some(sid) = request_avps
        .iter()
        .find(|a| a.code == SESSION_ID && a.vendor == 0)
    {
        avps.push(sid.to_raw());
    }
    avps.push(RawAvp::new(
        ORIGIN_HOST,
        m,
        0,
        Bytes::copy_from_slice(origin.host.as_bytes()),
    ));
    avps.push(RawAvp::new(
        ORIGIN_REALM,
        m,
        0,
        Bytes::copy_from_slice(origin.realm.as_bytes()),
    ));
    avps.push(RawAvp::new(
        RESULT_CODE,
        m,
        0,
        Bytes::copy_from_slice(&result_code.to_be_bytes()),
    ));
    if let Some(text) = error_message {
        avps.push(RawAvp::new(
            ERROR_MESSAGE,
            0,
            0,
            Bytes::copy_from_slice(text.as_bytes()),
        ));
    }
    if let Some(failed) = failed_avp {
        avps.push(RawAvp::new(FAILED_AVP, m, 0, failed.clone()));
    }
    for p in request_avps
        .iter()
        .filter(|a| a.code == PROXY_INFO && a.vendor == 0)
    {
        avps.push(p.to_raw());
    }
    RawMessage::from_avps(header, &avps)
}

/// The answer to a request that failed to decode: Result-Code and Failed-AVP from `err`.
pub fn error_answer(request: &RawMessage, origin: &Origin<'_>, err: &DecodeError) -> RawMessage {
    let text = err.kind.to_string();
    answer_with(
        request,
        origin,
        err.result_code(),
        Some(&text),
        err.failed_avp.as_ref(),
    )
}
