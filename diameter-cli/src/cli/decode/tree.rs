//! A decoded message as a tree of named, typed AVPs, built with the dictionary tables.
//!
//! Building never fails past the header: a bad AVP ends its level with a [`Problem`]
//! that says what and where, and the AVPs before it are kept.

use super::value::{decode_value, Value};
use bytes::Bytes;
use diameter::dict::DICTIONARY;
use diameter_core::avp::padding;
use diameter_core::dictionary::{AvpInfo, CommandInfo, DataType, Dictionary};
use diameter_core::{AvpIter, AvpRef, Header, HEADER_LEN};

/// Nesting beyond this depth is shown raw instead of decoded.
const MAX_DEPTH: usize = 32;

/// Something wrong in the input, with its byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Byte offset in the input (hex dump or TCP stream).
    pub offset: usize,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte offset {})", self.what, self.offset)
    }
}

/// One AVP with its header fields, definition and value.
#[derive(Clone, Debug)]
pub struct AvpNode {
    /// Byte offset of the AVP header in the input.
    pub offset: usize,
    /// AVP code.
    pub code: u32,
    /// Vendor-Id, 0 for none.
    pub vendor: u32,
    /// AVP flags.
    pub flags: u8,
    /// AVP length field (header and payload, no padding).
    pub length: usize,
    /// The definition, when the dictionary knows the AVP.
    pub info: Option<&'static AvpInfo>,
    /// The decoded value.
    pub value: Value,
}

/// A decoded message.
#[derive(Clone, Debug)]
pub struct MessageNode {
    /// Byte offset of the message in the input.
    pub offset: usize,
    /// The header.
    pub header: Header,
    /// The command, when the dictionary knows it.
    pub command: Option<&'static CommandInfo>,
    /// The dictionary the message was decoded with.
    pub dictionary: &'static Dictionary,
    /// The top-level AVPs.
    pub avps: Vec<AvpNode>,
    /// The problem that ended the top level early, if any.
    pub error: Option<Problem>,
}

impl MessageNode {
    /// Every problem in the message, nested ones included.
    pub fn problems(&self) -> Vec<&Problem> {
        let mut out: Vec<&Problem> = self.error.iter().collect();
        fn walk<'a>(avps: &'a [AvpNode], out: &mut Vec<&'a Problem>) {
            for a in avps {
                if let Value::Grouped { children, error } = &a.value {
                    out.extend(error.iter());
                    walk(children, out);
                }
            }
        }
        walk(&self.avps, &mut out);
        out.sort_by_key(|p| p.offset);
        out
    }

    /// The first Result-Code at the top level (or inside Experimental-Result).
    pub fn result_code(&self) -> Option<u32> {
        for a in &self.avps {
            match (&a.value, a.code, a.vendor) {
                (Value::Unsigned(v, _), 268, 0) => return u32::try_from(*v).ok(),
                (Value::Grouped { children, .. }, 297, 0) => {
                    for c in children {
                        if let (Value::Unsigned(v, _), 298) = (&c.value, c.code) {
                            return u32::try_from(*v).ok();
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Decodes one whole message (exactly its bytes) found at `offset` in the input.
///
/// Fails only when the header itself is unusable; AVP problems are kept in the tree.
pub fn build(msg: Bytes, offset: usize) -> Result<MessageNode, Problem> {
    build_with(&DICTIONARY, msg, offset)
}

/// [`build`] with another dictionary (the standard ones and a user's own, for example).
pub fn build_with(
    dict: &'static Dictionary,
    msg: Bytes,
    offset: usize,
) -> Result<MessageNode, Problem> {
    let header = Header::parse_unchecked(&msg).ok_or_else(|| Problem {
        offset,
        what: format!(
            "truncated header: {} bytes, a Diameter header has {HEADER_LEN}",
            msg.len()
        ),
    })?;
    if header.version != 1 {
        return Err(Problem {
            offset,
            what: format!(
                "version {} is not 1: this is not a Diameter message",
                header.version
            ),
        });
    }
    let len = header.length as usize;
    if len < HEADER_LEN || len & 3 != 0 {
        return Err(Problem {
            offset: offset + 1,
            what: format!("message length {len} is invalid (at least 20 and a multiple of 4)"),
        });
    }
    if len != msg.len() {
        return Err(Problem {
            offset: offset + 1,
            what: format!(
                "message length {len} disagrees with the {} bytes present",
                msg.len()
            ),
        });
    }
    let command = dict.command(header.command_code, header.application_id);
    let body = msg.slice(HEADER_LEN..);
    let base = msg.as_ptr() as usize;
    let (avps, error) = walk(dict, AvpIter::new(&body), base, offset, HEADER_LEN, len, 0);
    Ok(MessageNode {
        offset,
        header,
        command,
        dictionary: dict,
        avps,
        error,
    })
}

/// Decodes the AVPs of one level: a message body or a grouped payload from `start` to `end`
/// (offsets relative to the message).
fn walk(
    dict: &'static Dictionary,
    iter: AvpIter<'_>,
    base: usize,
    offset: usize,
    start: usize,
    end: usize,
    depth: usize,
) -> (Vec<AvpNode>, Option<Problem>) {
    let mut nodes = Vec::new();
    let mut next = start;
    for item in iter {
        match item {
            Ok(avp) => {
                let at = avp.raw_bytes().as_ptr() as usize - base;
                let len = avp.raw_bytes().len();
                next = (at + len + padding(len)).min(end);
                nodes.push(node(dict, &avp, base, offset, at, depth));
            }
            Err(e) => {
                let problem = Problem {
                    offset: offset + next,
                    what: e.kind.to_string(),
                };
                return (nodes, Some(problem));
            }
        }
    }
    (nodes, None)
}

fn node(
    dict: &'static Dictionary,
    avp: &AvpRef<'_>,
    base: usize,
    offset: usize,
    at: usize,
    depth: usize,
) -> AvpNode {
    let info = dict.avp(avp.code, avp.vendor);
    let len = avp.raw_bytes().len();
    let value = match info {
        Some(i) if i.data_type == DataType::Grouped => {
            if depth >= MAX_DEPTH {
                Value::Invalid {
                    reason: format!("grouped AVPs nested deeper than {MAX_DEPTH}"),
                    raw: avp.data_bytes(),
                }
            } else {
                let header_len = len - avp.data().len();
                let (children, error) = walk(
                    dict,
                    avp.children(),
                    base,
                    offset,
                    at + header_len,
                    at + len,
                    depth + 1,
                );
                Value::Grouped { children, error }
            }
        }
        Some(i) => decode_value(dict, i, avp),
        None => Value::Raw(avp.data_bytes()),
    };
    AvpNode {
        offset: offset + at,
        code: avp.code,
        vendor: avp.vendor,
        flags: avp.flags,
        length: len,
        info,
        value,
    }
}
