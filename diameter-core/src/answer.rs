//! Building the answer to a request that failed validation (RFC 6733 §7.2).

use crate::avp::{padding, AvpFlags, RawAvp};
use crate::error::{padded, DecodeError};
use crate::header::{CommandFlags, Header};
use crate::message::RawMessage;
use crate::result_code::is_protocol_error;
use bytes::{Bytes, BytesMut};

const SESSION_ID: u32 = 263;
const ORIGIN_HOST: u32 = 264;
const ORIGIN_REALM: u32 = 296;
const RESULT_CODE: u32 = 268;
const FAILED_AVP: u32 = 279;
const ERROR_MESSAGE: u32 = 281;
const PROXY_INFO: u32 = 284;
const ERROR_REPORTING_HOST: u32 = 294;

/// The most bytes of an offending AVP an answer's Failed-AVP carries: a longer AVP is
/// cut to this size (its header kept and its length field made to match; an AVP wrapped
/// in its enclosing grouped AVP is cut inside the wrapper), so an error answer never
/// grows with the request. 1024 bytes.
pub const MAX_FAILED_AVP_LEN: usize = 1024;

/// `avp` (one encoded AVP, unpadded) cut to at most `max` bytes, still well formed where it
/// was: header kept, length field set to the bytes kept. A grouped wrapper holding one
/// AVP (as [`DecodeError::within`] builds) keeps its header and has its member cut.
pub fn truncate_avp(avp: &Bytes, max: usize) -> Bytes {
    if avp.len() <= max || avp.len() < 8 {
        return avp.clone();
    }
    let flags = avp[4];
    let hdr = if flags & AvpFlags::VENDOR != 0 { 12 } else { 8 };
    let length = u32::from_be_bytes([0, avp[5], avp[6], avp[7]]) as usize;
    let max = max.max(hdr + 4);
    let data = avp.slice(hdr.min(avp.len())..);
    // A wrapper of exactly one AVP: cut the member, keep the wrapper.
    let member = (data.len() >= 8)
        .then(|| u32::from_be_bytes([0, data[5], data[6], data[7]]) as usize)
        .filter(|&l| l >= 8 && l <= data.len() && data.len() - l < 4);
    let payload = match member {
        Some(l) if length == avp.len() || length + padding(length) == avp.len() => {
            padded(truncate_avp(&data.slice(..l), max - hdr))
        }
        _ => data.slice(..(max - hdr) & !3),
    };
    let mut out = BytesMut::with_capacity(hdr + payload.len());
    out.extend_from_slice(&avp[..hdr]);
    let new_len = (hdr + payload.len()) as u32;
    out[5..8].copy_from_slice(&new_len.to_be_bytes()[1..]);
    out.extend_from_slice(&payload);
    out.freeze()
}

/// The identity a node answers with.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    /// Origin-Host.
    pub host: &'a str,
    /// Origin-Realm.
    pub realm: &'a str,
}

/// An AVP whose payload is the given text.
fn text_avp(code: u32, flags: u8, text: &str) -> RawAvp {
    RawAvp::new(code, flags, 0, Bytes::copy_from_slice(text.as_bytes()))
}

/// Result-Code as an AVP.
fn result_code_avp(code: u32) -> RawAvp {
    RawAvp::new(
        RESULT_CODE,
        AvpFlags::MANDATORY,
        0,
        Bytes::copy_from_slice(&code.to_be_bytes()),
    )
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
    build(request, origin, result_code, error_message, failed_avp, &[])
}

/// [`answer_with`], also copying the request's AVPs named in `echo` (for a 5xxx answer
/// that must still fit the command's answer grammar).
fn build(
    request: &RawMessage,
    origin: &Origin<'_>,
    result_code: u32,
    error_message: Option<&str>,
    failed_avp: Option<&Bytes>,
    echo: &[(u32, u32)],
) -> RawMessage {
    let req = &request.header;
    let protocol_error = is_protocol_error(result_code);
    let mut flags = req.flags & CommandFlags::PROXIABLE;
    if protocol_error {
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
    // The request may be malformed; take what can be read of its top-level AVPs, keeping
    // only those copied (a request of many AVPs costs no list of them all).
    let mut session = None;
    let mut proxy_info = Vec::new();
    let mut echoed = Vec::new();
    for a in request.avps().map_while(Result::ok) {
        if a.vendor == 0 && a.code == SESSION_ID && session.is_none() {
            session = Some(a.to_raw());
        }
        if a.vendor == 0 && a.code == PROXY_INFO {
            proxy_info.push(a.to_raw());
        }
        // A 5xxx answer keeps the command's own grammar (RFC 6733 §7.2 applies the
        // generic answer-message to protocol errors only).
        if !protocol_error && echo.contains(&(a.code, a.vendor)) {
            echoed.push(a.to_raw());
        }
    }
    avps.extend(session);
    avps.push(text_avp(ORIGIN_HOST, m, origin.host));
    avps.push(text_avp(ORIGIN_REALM, m, origin.realm));
    avps.push(result_code_avp(result_code));
    if let Some(text) = error_message {
        avps.push(text_avp(ERROR_MESSAGE, 0, text));
    }
    if let Some(failed) = failed_avp {
        let failed = truncate_avp(failed, MAX_FAILED_AVP_LEN);
        avps.push(RawAvp::new(FAILED_AVP, m, 0, padded(failed)));
    }
    avps.extend(proxy_info);
    avps.extend(echoed);
    RawMessage::from_avps(header, &avps)
}

/// The answer to a request that failed to decode: Result-Code and Failed-AVP from `err`,
/// and the request AVPs its answer grammar requires (`err.answer_echo`).
pub fn error_answer(request: &RawMessage, origin: &Origin<'_>, err: &DecodeError) -> RawMessage {
    let text = err.kind.to_string();
    build(
        request,
        origin,
        err.result_code(),
        Some(&text),
        err.failed_avp.as_ref(),
        err.answer_echo,
    )
}

/// An answer with the E bit: the generic answer-message of RFC 6733 §7.2, which replaces
/// the command's own answer grammar for protocol errors (3xxx).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtocolErrorAnswer {
    /// Command code of the request answered.
    pub command_code: u32,
    /// Whether the P bit is set.
    pub proxiable: bool,
    /// Session-Id, when the request had one.
    pub session_id: Option<crate::Utf8String>,
    /// Origin-Host of the node that answered.
    pub origin_host: Option<crate::DiameterIdentity>,
    /// Origin-Realm of the node that answered.
    pub origin_realm: Option<crate::DiameterIdentity>,
    /// Result-Code.
    pub result_code: u32,
    /// Error-Message.
    pub error_message: Option<crate::Utf8String>,
    /// Error-Reporting-Host.
    pub error_reporting_host: Option<crate::DiameterIdentity>,
    /// The AVPs inside Failed-AVP.
    pub failed_avp: Vec<RawAvp>,
    /// Every other AVP, raw.
    pub other: Vec<RawAvp>,
}

impl ProtocolErrorAnswer {
    /// Reads an answer-message leniently: the error is reported whatever else it carries.
    pub fn decode(msg: &RawMessage) -> Result<Self, DecodeError> {
        use crate::traits::AvpValue;
        let mut out = ProtocolErrorAnswer {
            command_code: msg.header.command_code,
            proxiable: msg.header.is_proxiable(),
            ..Default::default()
        };
        let text = |avp: &crate::AvpRef<'_>| crate::Utf8String::decode_value(avp).ok();
        let ident = |avp: &crate::AvpRef<'_>| crate::DiameterIdentity::decode_value(avp).ok();
        for avp in msg.avps() {
            let avp = avp?;
            match (avp.code, avp.vendor) {
                (SESSION_ID, 0) => out.session_id = text(&avp),
                (ORIGIN_HOST, 0) => out.origin_host = ident(&avp),
                (ORIGIN_REALM, 0) => out.origin_realm = ident(&avp),
                (RESULT_CODE, 0) => out.result_code = u32::decode_value(&avp).unwrap_or(0),
                (ERROR_MESSAGE, 0) => out.error_message = text(&avp),
                (ERROR_REPORTING_HOST, 0) => out.error_reporting_host = ident(&avp),
                (FAILED_AVP, 0) => out
                    .failed_avp
                    .extend(avp.children().map_while(Result::ok).map(|a| a.to_raw())),
                _ => out.other.push(avp.to_raw()),
            }
        }
        Ok(out)
    }

    /// Encodes the answer-message with the E bit set.
    pub fn encode(&self, application_id: u32, hop_by_hop: u32, end_to_end: u32) -> BytesMut {
        let m = AvpFlags::MANDATORY;
        let text = text_avp;
        let mut avps = Vec::new();
        if let Some(v) = &self.session_id {
            avps.push(text(SESSION_ID, m, v));
        }
        if let Some(v) = &self.origin_host {
            avps.push(text(ORIGIN_HOST, m, v));
        }
        if let Some(v) = &self.origin_realm {
            avps.push(text(ORIGIN_REALM, m, v));
        }
        avps.push(result_code_avp(self.result_code));
        if let Some(v) = &self.error_message {
            avps.push(text(ERROR_MESSAGE, 0, v));
        }
        if let Some(v) = &self.error_reporting_host {
            avps.push(text(ERROR_REPORTING_HOST, 0, v));
        }
        if !self.failed_avp.is_empty() {
            let mut inner = BytesMut::new();
            for a in &self.failed_avp {
                a.encode(&mut inner);
            }
            avps.push(RawAvp::new(FAILED_AVP, m, 0, inner.freeze()));
        }
        avps.extend(self.other.iter().cloned());
        let flags = CommandFlags::ERROR
            | if self.proxiable {
                CommandFlags::PROXIABLE
            } else {
                0
            };
        let header = Header::new(
            self.command_code,
            application_id,
            flags,
            hop_by_hop,
            end_to_end,
        );
        let mut out = BytesMut::new();
        RawMessage::from_avps(header, &avps).encode(&mut out);
        out
    }
}

/// RFC 6733 §6.7.3: an answer carries the request's Proxy-Info AVPs back, in their order.
/// Appends them to `answer` unless it already has a Proxy-Info (a handler that set them
/// itself keeps its own). Every answer the node builds for a local handler goes through it.
pub fn echo_proxy_info(request: &RawMessage, answer: &mut RawMessage) {
    let proxies = proxy_info_to_echo(request, &answer.body);
    if proxies.is_empty() {
        return;
    }
    let mut body = BytesMut::with_capacity(answer.body.len() + proxies.len() * 64);
    body.extend_from_slice(&answer.body);
    put_avps(&mut body, &proxies);
    answer.body = body.freeze();
}

/// The request's Proxy-Info AVPs that an answer whose body is `answer_body` must echo:
/// none when it has its own. Most requests carry none: one walk of the request, and the
/// answer is not looked at. For [`echo_proxy_info`] and answers encoded in place.
pub(crate) fn proxy_info_to_echo<'a>(
    request: &'a RawMessage,
    answer_body: &[u8],
) -> Vec<crate::avp::AvpRef<'a>> {
    let proxies: Vec<_> = request
        .avps()
        .map_while(Result::ok)
        .filter(|a| a.vendor == 0 && a.code == PROXY_INFO)
        .collect();
    if proxies.is_empty() || crate::fields::has_avp_in(answer_body, PROXY_INFO) {
        return Vec::new();
    }
    proxies
}

/// Appends whole AVPs to `out`, each padded.
pub(crate) fn put_avps(out: &mut BytesMut, avps: &[crate::avp::AvpRef<'_>]) {
    for a in avps {
        out.extend_from_slice(a.raw());
        crate::avp::put_padding(out, padding(a.raw().len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avp::AvpIter;

    #[test]
    fn failed_avp_is_cut_and_stays_well_formed() {
        let big = RawAvp::new(1, AvpFlags::MANDATORY, 0, Bytes::from(vec![9u8; 100_000]));
        let cut = truncate_avp(&big.to_bytes(), MAX_FAILED_AVP_LEN);
        assert!(cut.len() <= MAX_FAILED_AVP_LEN);
        let a = AvpIter::new(&cut).next().unwrap().unwrap();
        assert_eq!((a.code, a.flags), (1, AvpFlags::MANDATORY));
        // Wrapped in a grouped (vendor) AVP: the wrapper stays, its member is cut.
        let wrapped = RawAvp::new(456, AvpFlags::VENDOR, 10415, padded(big.to_bytes()));
        let cut = truncate_avp(&wrapped.to_bytes(), MAX_FAILED_AVP_LEN);
        assert!(cut.len() <= MAX_FAILED_AVP_LEN);
        let outer = AvpIter::new(&cut).next().unwrap().unwrap();
        assert_eq!((outer.code, outer.vendor), (456, 10415));
        let inner = outer.children().next().unwrap().unwrap();
        assert_eq!(inner.code, 1);
        // Small AVPs are untouched.
        let small = RawAvp::new(2, 0, 0, Bytes::from_static(b"abc")).to_bytes();
        assert_eq!(truncate_avp(&small, MAX_FAILED_AVP_LEN), small);
    }

    #[test]
    fn error_answer_does_not_grow_with_the_offending_avp() {
        let big = RawAvp::new(1, AvpFlags::MANDATORY, 0, Bytes::from(vec![9u8; 500_000]));
        let req = RawMessage::from_avps(
            Header::new(272, 4, CommandFlags::REQUEST, 1, 1),
            std::slice::from_ref(&big),
        );
        let err = DecodeError::with_avp(
            crate::error::ErrorKind::InvalidAvpValue {
                name: "X",
                reason: "bad",
            },
            big.to_bytes(),
        );
        let origin = Origin {
            host: "h",
            realm: "r",
        };
        let ans = error_answer(&req, &origin, &err);
        assert!(ans.body.len() < 2 * MAX_FAILED_AVP_LEN);
        assert!(ans.find(FAILED_AVP, 0).is_some());
    }
}
