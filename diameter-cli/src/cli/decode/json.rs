//! The decoded tree as JSON.

use super::text::avp_flags;
use super::tree::{AvpNode, MessageNode, Problem};
use super::value::{printable, Value};
use super::Source;
use crate::cli::hexin;
use serde_json::{json, Map, Value as Json};

/// One message as a JSON object.
pub fn message(msg: &MessageNode, source: &Source) -> Json {
    let h = &msg.header;
    let mut m = Map::new();
    source.to_json(&mut m);
    m.insert("offset".into(), json!(msg.offset));
    m.insert("version".into(), json!(h.version));
    m.insert("length".into(), json!(h.length));
    m.insert(
        "flags".into(),
        json!({
            "value": h.flags,
            "request": h.is_request(),
            "proxiable": h.is_proxiable(),
            "error": h.is_error(),
            "retransmit": h.is_retransmit(),
        }),
    );
    let mut cmd = Map::new();
    cmd.insert("code".into(), json!(h.command_code));
    if let Some(c) = msg.command {
        cmd.insert("name".into(), json!(c.name));
        let letter = if h.is_request() { "R" } else { "A" };
        cmd.insert("abbrev".into(), json!(format!("{}{letter}", c.short)));
    }
    m.insert("command".into(), Json::Object(cmd));
    let app = msg
        .dictionary
        .applications
        .iter()
        .find(|a| a.id == h.application_id);
    m.insert(
        "application".into(),
        json!({ "id": h.application_id, "name": app.map(|a| a.name) }),
    );
    m.insert("hop_by_hop".into(), json!(h.hop_by_hop));
    m.insert("end_to_end".into(), json!(h.end_to_end));
    m.insert("avps".into(), avps(&msg.avps));
    if let Some(p) = &msg.error {
        m.insert("error".into(), problem(p));
    }
    Json::Object(m)
}

/// A problem as `{"offset": .., "error": ..}`.
pub fn problem(p: &Problem) -> Json {
    json!({ "offset": p.offset, "error": p.what })
}

fn avps(nodes: &[AvpNode]) -> Json {
    Json::Array(nodes.iter().map(avp).collect())
}

fn avp(n: &AvpNode) -> Json {
    let mut m = Map::new();
    m.insert("name".into(), json!(n.info.map(|i| i.name)));
    m.insert("code".into(), json!(n.code));
    m.insert("vendor".into(), json!(n.vendor));
    m.insert("flags".into(), json!(avp_flags(n.flags)));
    m.insert("length".into(), json!(n.length));
    m.insert("offset".into(), json!(n.offset));
    m.insert(
        "type".into(),
        json!(n.info.map(|i| i.data_type.name()).unwrap_or("unknown")),
    );
    match &n.value {
        Value::Grouped { children, error } => {
            m.insert("avps".into(), avps(children));
            if let Some(p) = error {
                m.insert("error".into(), problem(p));
            }
        }
        Value::Unsigned(v, name) => {
            m.insert("value".into(), json!(v));
            if let Some(name) = name {
                m.insert("meaning".into(), json!(name));
            }
        }
        Value::Signed(v) => {
            m.insert("value".into(), json!(v));
        }
        Value::Float(v) => {
            m.insert("value".into(), json!(v));
        }
        Value::Enum(v, name) => {
            m.insert("value".into(), json!(v));
            m.insert("meaning".into(), json!(name));
        }
        Value::Text(s) | Value::Address(s) => {
            m.insert("value".into(), json!(s));
        }
        Value::Time { ntp, unix } => {
            m.insert("value".into(), json!(Value::utc(*unix)));
            m.insert("ntp".into(), json!(ntp));
            m.insert("unix".into(), json!(unix));
        }
        Value::Octets(b) => {
            m.insert("value".into(), json!(hexin::encode(b)));
            if let Some(t) = printable(b) {
                m.insert("text".into(), json!(t));
            }
        }
        Value::Raw(b) => {
            m.insert("raw".into(), json!(hexin::encode(b)));
        }
        Value::Invalid { reason, raw } => {
            m.insert("error".into(), json!(reason));
            m.insert("raw".into(), json!(hexin::encode(raw)));
        }
    }
    Json::Object(m)
}
