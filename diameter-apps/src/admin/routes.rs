//! Routing of admin requests to the operator actions of the OCS and the SIP AAA server.

use super::http::{self, percent_decode, Request};
use super::{token, AdminConfig, Target};
use crate::ocs::server::ReAuthScope;
use crate::sip::client::SipResult;
use crate::sip::store::{AccountingInfo, UserData};
use crate::sip::{self, server::ServerError};
use crate::{ocs, sip::SipHandle};
use diameter::dict::sip_rfc4740::SipReasonCode;
use diameter_core::node::RequestError;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::net::TcpStream;

/// A response: status, JSON body, and the `Allow` header of a 405 or the
/// `WWW-Authenticate` header of a 401.
struct Reply {
    status: u16,
    body: Value,
    header: Option<(&'static str, &'static str)>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body,
            header: None,
        }
    }
    fn error(status: u16, message: impl Into<String>) -> Self {
        Reply {
            status,
            body: json!({ "error": message.into() }),
            header: None,
        }
    }
    fn allow(self, methods: &'static str) -> Self {
        Reply {
            header: Some(("Allow", methods)),
            ..self
        }
    }
}

/// The checks before routing, in order: no browser (`Origin`, `Sec-Fetch-Site`, CORS
/// preflight), then the bearer token, then a JSON body for state-changing methods.
fn admit(req: &Request, config: &AdminConfig) -> Result<(), Reply> {
    if req.method == "OPTIONS" {
        return Err(Reply::error(
            405,
            "OPTIONS is refused: the admin endpoint does not do CORS",
        )
        .allow("GET, POST"));
    }
    if req.header("origin").is_some() {
        return Err(Reply::error(
            403,
            "requests with an Origin header (from a browser) are refused",
        ));
    }
    if req
        .header("sec-fetch-site")
        .is_some_and(|v| !v.eq_ignore_ascii_case("none"))
    {
        return Err(Reply::error(
            403,
            "requests from a web page (Sec-Fetch-Site) are refused",
        ));
    }
    let unauthorized = |message: &str| Reply {
        header: Some(("WWW-Authenticate", "Bearer realm=\"diameter-admin\"")),
        ..Reply::error(401, message)
    };
    match req.header("authorization").map(token::bearer) {
        None => {
            return Err(unauthorized(
                "an Authorization: Bearer TOKEN header is required (the token is in the \
                 server's admin.token file)",
            ))
        }
        Some(None) => return Err(unauthorized("the Authorization header is not Bearer TOKEN")),
        Some(Some(given)) if !token::matches(&config.token, given) => {
            return Err(unauthorized("the bearer token is not this server's"))
        }
        Some(Some(_)) => {}
    }
    if req.method != "GET" && req.method != "HEAD" {
        let media = req
            .header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim_matches([' ', '\t']));
        if !media.is_some_and(|m| m.eq_ignore_ascii_case("application/json")) {
            return Err(Reply::error(
                415,
                format!("{} needs Content-Type: application/json", req.method),
            ));
        }
    }
    Ok(())
}

/// Serves one connection: one request, one response.
pub(super) async fn connection(mut stream: TcpStream, target: &Target, config: &AdminConfig) {
    let read = http::read_request(&mut stream, &config.limits);
    let request = match tokio::time::timeout(config.read_timeout, read).await {
        Err(_) => Err((408, "the request did not arrive in time".to_string())),
        Ok(Err(e)) => match e.response() {
            Some(r) => Err(r),
            None => return,
        },
        Ok(Ok(r)) => Ok(r),
    };
    let reply = match request {
        Ok(req) => match admit(&req, config) {
            Ok(()) => route(target, &req, config).await,
            Err(reply) => {
                tracing::debug!(status = reply.status, method = %req.method, path = %req.path, "admin request refused");
                reply
            }
        },
        Err((status, message)) => Reply::error(status, message),
    };
    let body = reply.body.to_string();
    let extra: Vec<(&str, &str)> = reply.header.into_iter().collect();
    let write = http::write_response(&mut stream, reply.status, &extra, &body);
    let _ = tokio::time::timeout(config.read_timeout, write).await;
}

/// The name of a Result-Code in the dictionaries.
fn result_name(code: u32) -> Value {
    match diameter::dict::DICTIONARY.result_code_name(code) {
        Some(n) => Value::from(n),
        None => Value::Null,
    }
}

async fn route(target: &Target, req: &Request, config: &AdminConfig) -> Reply {
    let raw: Vec<&str> = req.path.split('/').skip(1).collect();
    let mut segs = Vec::with_capacity(raw.len());
    for s in &raw {
        match percent_decode(s) {
            Some(s) => segs.push(s),
            None => {
                return Reply::error(
                    400,
                    format!("bad percent-encoding in the path {:?}", req.path),
                )
            }
        }
    }
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let action = match segs.as_slice() {
        [""] => None,
        ["ocs", "sessions", id, verb @ ("reauth" | "abort")] => Some(("ocs", *id, *verb)),
        ["sip", "users", user, verb @ ("deregister" | "profile")] => Some(("sip", *user, *verb)),
        _ => return Reply::error(404, format!("no endpoint {}", req.path)),
    };
    let Some((app, key, verb)) = action else {
        if req.method != "GET" {
            return Reply::error(405, "use GET /").allow("GET");
        }
        return Reply::ok(index(target));
    };
    if req.method != "POST" {
        return Reply::error(405, format!("use POST {}", req.path)).allow("POST");
    }
    if key.is_empty() {
        let what = if app == "ocs" { "Session-Id" } else { "user" };
        return Reply::error(400, format!("the {what} in the path is empty"));
    }
    let action = async {
        match (target, verb) {
            (Target::Ocs(h), "reauth") => match parse_body::<ReAuthScope>(&req.body) {
                Ok(scope) => ocs_action(h, key, Some(scope)).await,
                Err(r) => r,
            },
            (Target::Ocs(h), "abort") => ocs_action(h, key, None).await,
            (Target::Sip(h), "deregister") => deregister(h, key, &req.body).await,
            (Target::Sip(h), "profile") => push_profile(h, key, &req.body).await,
            (Target::Ocs(_), _) => Reply::error(
                404,
                "this is the online charging server: /sip/... is served by `diameter serve sip --admin`",
            ),
            (Target::Sip(_), _) => Reply::error(
                404,
                "this is the SIP AAA server: /ocs/... is served by `diameter serve ocs --admin`",
            ),
        }
    };
    match tokio::time::timeout(config.action_timeout, action).await {
        Ok(reply) => reply,
        Err(_) => Reply::error(
            502,
            format!(
                "no answer from the peer within {} s",
                config.action_timeout.as_secs()
            ),
        ),
    }
}

fn index(target: &Target) -> Value {
    match target {
        Target::Ocs(_) => json!({
            "server": "ocs",
            "endpoints": [
                "POST /ocs/sessions/{session-id}/reauth",
                "POST /ocs/sessions/{session-id}/abort",
            ],
        }),
        Target::Sip(_) => json!({
            "server": "sip",
            "endpoints": [
                "POST /sip/users/{user}/deregister",
                "POST /sip/users/{user}/profile",
            ],
        }),
    }
}

/// A request failure: an answer with the E bit still is the peer's Result-Code (200); no
/// answer at all is 502.
fn request_failed(e: &RequestError, request: &str, answer: &str, extra: Value) -> Reply {
    match e {
        RequestError::Protocol { result_code, .. } => {
            let mut body = json!({
                "request": request,
                "answer": answer,
                "result_code": result_code,
                "result": result_name(*result_code),
                "protocol_error": true,
            });
            merge(&mut body, extra);
            Reply::ok(body)
        }
        e => Reply::error(502, format!("the peer did not answer the {request}: {e}")),
    }
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
}

/// A RAR (`reauth`: what it re-authorizes) or, without one, an ASR.
async fn ocs_action(
    h: &Arc<ocs::OcsHandle>,
    session_id: &str,
    reauth: Option<ReAuthScope>,
) -> Reply {
    let (request, answer) = match reauth {
        None => ("ASR", "ASA"),
        Some(_) => ("RAR", "RAA"),
    };
    let result = match &reauth {
        None => h.abort(session_id).await.map(|a| a.result_code),
        Some(scope) => h
            .re_auth_for(session_id, scope)
            .await
            .map(|a| a.result_code),
    };
    let mut extra = json!({ "session_id": session_id });
    if let Some(scope) = reauth.filter(|s| !s.is_whole_session()) {
        merge(&mut extra, json!({ "scope": scope }));
    }
    match result {
        Ok(code) => {
            let mut body = json!({
                "request": request,
                "answer": answer,
                "result_code": code,
                "result": result_name(code),
            });
            merge(&mut body, extra);
            Reply::ok(body)
        }
        Err(ocs::Error::UnknownSession(s)) => Reply::error(
            404,
            format!("unknown session {s}: no open credit-control session has this Session-Id"),
        ),
        Err(ocs::Error::Request(e)) => request_failed(&e, request, answer, extra),
        Err(e) => Reply::error(500, format!("{request} failed: {e}")),
    }
}

/// Parses a SIP-Reason-Code: its name (any case, `-` or `_`) or its number.
pub fn parse_reason(text: &str) -> Option<SipReasonCode> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return (0..=3).contains(&n).then(|| SipReasonCode::from_value(n));
    }
    let norm = t.to_ascii_uppercase().replace('-', "_");
    (0..=3)
        .map(SipReasonCode::from_value)
        .find(|c| c.name() == Some(norm.as_str()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeregisterBody {
    #[serde(default)]
    reason: Option<Value>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    aors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileItem {
    #[serde(rename = "type")]
    data_type: String,
    contents: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[serde(default)]
    profile: Option<Vec<ProfileItem>>,
    #[serde(default)]
    accounting_servers: Option<Vec<String>>,
    #[serde(default)]
    credit_control_servers: Option<Vec<String>>,
}

fn parse_body<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| Reply::error(400, format!("bad JSON body: {e}")))
}

fn sip_results(request: &str, answer: &str, user: &str, results: &[SipResult]) -> Reply {
    let answers: Vec<Value> = results
        .iter()
        .map(|r| json!({ "result_code": r.code(), "result": result_name(r.code()) }))
        .collect();
    // The first failure, else the first answer, stands for all.
    let code = results
        .iter()
        .map(|r| r.code())
        .find(|c| !(2000..3000).contains(c))
        .or_else(|| results.first().map(|r| r.code()));
    let Some(code) = code else {
        return Reply::error(
            502,
            format!("no {answer}: no SIP server was sent a {request}"),
        );
    };
    Reply::ok(json!({
        "user": user,
        "request": request,
        "answer": answer,
        "result_code": code,
        "result": result_name(code),
        "answers": answers,
    }))
}

fn sip_failed(e: sip::Error, request: &str, answer: &str, user: &str) -> Reply {
    match e {
        sip::Error::Server(ServerError::NoSuchUser(u)) => {
            Reply::error(404, format!("unknown user {u}"))
        }
        sip::Error::Server(ServerError::NotServed(u)) => Reply::error(
            409,
            format!("user {u} is not registered at any SIP server: there is nobody to send the {request} to"),
        ),
        sip::Error::Request(e) => request_failed(&e, request, answer, json!({ "user": user })),
        e => Reply::error(500, format!("{request} failed: {e}")),
    }
}

async fn deregister(h: &Arc<SipHandle>, user: &str, body: &[u8]) -> Reply {
    let body: DeregisterBody = match parse_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let reason = match &body.reason {
        None | Some(Value::Null) => SipReasonCode::PermanentTermination,
        Some(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            match parse_reason(&text) {
                Some(r) => r,
                None => {
                    return Reply::error(
                        400,
                        format!(
                            "reason {v} is not a SIP-Reason-Code: use PERMANENT_TERMINATION, \
                             NEW_SIP_SERVER_ASSIGNED, SIP_SERVER_CHANGE or REMOVE_SIP_SERVER (or 0-3)"
                        ),
                    )
                }
            }
        }
    };
    let aors: Vec<&str> = body.aors.iter().map(String::as_str).collect();
    match h
        .deregister(user, &aors, reason, body.text.as_deref())
        .await
    {
        Ok(results) => sip_results("RTR", "RTA", user, &results),
        Err(e) => sip_failed(e, "RTR", "RTA", user),
    }
}

async fn push_profile(h: &Arc<SipHandle>, user: &str, body: &[u8]) -> Reply {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Reply::error(
            400,
            "a JSON body is required: {\"profile\": [{\"type\": ..., \"contents\": ...}], \
             \"accounting_servers\": [...], \"credit_control_servers\": [...]}",
        );
    }
    let body: ProfileBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Reply::error(400, format!("bad JSON body: {e}")),
    };
    if body.profile.is_none()
        && body.accounting_servers.is_none()
        && body.credit_control_servers.is_none()
    {
        return Reply::error(
            400,
            "nothing to push: give profile, accounting_servers or credit_control_servers",
        );
    }
    let (server, name) = (h.server.clone(), user.to_string());
    let stored = tokio::task::spawn_blocking(move || server.store().user(&name)).await;
    let stored = match stored {
        Ok(Ok(Some(u))) => u,
        Ok(Ok(None)) => return Reply::error(404, format!("unknown user {user}")),
        Ok(Err(e)) => return Reply::error(500, format!("store: {e}")),
        Err(e) => return Reply::error(500, format!("store: {e}")),
    };
    let profile = match body.profile {
        Some(items) => items
            .into_iter()
            .map(|i| UserData {
                data_type: i.data_type,
                contents: i.contents.into_bytes(),
            })
            .collect(),
        None => stored.profile,
    };
    let accounting = AccountingInfo {
        accounting_servers: body
            .accounting_servers
            .unwrap_or(stored.accounting.accounting_servers),
        credit_control_servers: body
            .credit_control_servers
            .unwrap_or(stored.accounting.credit_control_servers),
    };
    match h.push_profile(user, profile, accounting).await {
        Ok(results) => sip_results("PPR", "PPA", user, &results),
        Err(e) => sip_failed(e, "PPR", "PPA", user),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        assert_eq!(parse_reason("2"), Some(SipReasonCode::SipServerChange));
        assert_eq!(
            parse_reason("new-sip-server-assigned"),
            Some(SipReasonCode::NewSipServerAssigned)
        );
        assert_eq!(
            parse_reason("REMOVE_SIP_SERVER"),
            Some(SipReasonCode::RemoveSipServer)
        );
        assert_eq!(parse_reason("7"), None);
        assert_eq!(parse_reason("later"), None);
    }
}
