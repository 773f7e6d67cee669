//! A request under construction: AVPs by name with dotted paths into grouped AVPs, put in
//! grammar order and encoded.

use super::value;
use bytes::{Bytes, BytesMut};
use diameter::dict::DICTIONARY;
use diameter_core::dictionary::{AvpInfo, CommandInfo, DataType, EntryKind, Grammar};
use diameter_core::{CommandFlags, Header, RawAvp, RawMessage};

/// One AVP to send.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its definition.
    pub info: &'static AvpInfo,
    /// Its value.
    pub value: NodeValue,
}

/// A leaf payload or grouped members.
#[derive(Clone, Debug)]
pub enum NodeValue {
    /// An encoded leaf payload.
    Leaf(Bytes),
    /// Members of a grouped AVP.
    Group(Vec<Node>),
}

/// The AVPs of a request, built up from files, flags and defaults.
#[derive(Clone, Debug)]
pub struct Request {
    /// The command.
    pub command: &'static CommandInfo,
    /// The Application-Id for the header.
    pub application_id: u32,
    /// The top-level AVPs.
    pub avps: Vec<Node>,
}

/// One step of a dotted path: a name and an optional occurrence index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// AVP name or code.
    pub name: String,
    /// `Name[2]`: the occurrence; `None` means the last one (created if absent).
    pub index: Option<usize>,
}

/// Splits `A.B[1].C` into steps.
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("{path:?}: empty name in the path"));
        }
        let step = match part.split_once('[') {
            Some((name, rest)) => {
                let idx = rest
                    .strip_suffix(']')
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| {
                        format!("{path:?}: write an occurrence as Name[0], Name[1], ...")
                    })?;
                Step {
                    name: name.to_owned(),
                    index: Some(idx),
                }
            }
            None => Step {
                name: part.to_owned(),
                index: None,
            },
        };
        steps.push(step);
    }
    Ok(steps)
}

/// The AVP for a path step: by name, code or VENDOR:CODE.
pub fn lookup(name: &str) -> Result<&'static AvpInfo, String> {
    if let Some(a) = DICTIONARY.avp_by_name(name) {
        return Ok(a);
    }
    let by_code = match name.split_once(':') {
        Some((v, c)) => v
            .parse()
            .ok()
            .zip(c.parse().ok())
            .and_then(|(v, c)| DICTIONARY.avp(c, v)),
        None => name.parse().ok().and_then(|c| DICTIONARY.avp(c, 0)),
    };
    by_code.ok_or_else(|| {
        let lower = name.to_ascii_lowercase();
        let mut close = crate::cli::suggest::closest(name, DICTIONARY.avps.iter().map(|a| a.name));
        if close.is_empty() {
            close = DICTIONARY
                .avps
                .iter()
                .filter(|a| a.name.to_ascii_lowercase().contains(&lower))
                .take(5)
                .map(|a| a.name)
                .collect();
        }
        if close.is_empty() {
            format!("no AVP is named {name:?} (see `diameter dict search`)")
        } else {
            format!(
                "no AVP is named {name:?}; did you mean {}?",
                close.join(", ")
            )
        }
    })
}

impl Request {
    /// An empty request for a command.
    pub fn new(command: &'static CommandInfo) -> Request {
        Request {
            command,
            application_id: command.application_id,
            avps: Vec::new(),
        }
    }

    /// Sets the value at a dotted path, creating grouped parents as needed. A leaf that
    /// exists is replaced unless `add` (then another occurrence is appended).
    pub fn set(&mut self, path: &str, text: &str, add: bool) -> Result<(), String> {
        let steps = parse_path(path)?;
        set_in(&mut self.avps, &steps, text, add, path)
    }

    /// Whether a top-level AVP is present.
    pub fn has(&self, name: &str) -> bool {
        self.avps
            .iter()
            .any(|n| n.info.name.eq_ignore_ascii_case(name))
    }

    /// Sets a top-level leaf only when absent.
    pub fn default(&mut self, name: &str, text: &str) -> Result<(), String> {
        if !self.has(name) {
            self.set(name, text, false)?;
        }
        Ok(())
    }

    /// Required AVPs of the grammar that are missing, at the top level.
    pub fn missing(&self) -> Vec<&'static str> {
        self.command
            .request
            .entries
            .iter()
            .filter(|e| e.kind != EntryKind::Optional && e.min > 0)
            .filter(|e| {
                !self
                    .avps
                    .iter()
                    .any(|n| n.info.code == e.code && n.info.vendor == e.vendor)
            })
            .map(|e| e.name)
            .collect()
    }

    /// The request message, AVPs in grammar order.
    pub fn to_message(&self, hop_by_hop: u32, end_to_end: u32) -> RawMessage {
        let mut flags = CommandFlags::REQUEST;
        if self.command.proxiable {
            flags |= CommandFlags::PROXIABLE;
        }
        let header = Header::new(
            self.command.code,
            self.application_id,
            flags,
            hop_by_hop,
            end_to_end,
        );
        RawMessage::from_avps(header, &self.to_avps())
    }

    /// The encoded top-level AVPs, in grammar order.
    pub fn to_avps(&self) -> Vec<RawAvp> {
        encode_level(&self.avps, Some(&self.command.request))
    }
}

fn set_in(
    level: &mut Vec<Node>,
    steps: &[Step],
    text: &str,
    add: bool,
    path: &str,
) -> Result<(), String> {
    let Some((step, rest)) = steps.split_first() else {
        return Ok(());
    };
    let info = lookup(&step.name)?;
    let is_group = info.data_type == DataType::Grouped;
    if rest.is_empty() && is_group {
        return Err(format!(
            "{path}: {} is Grouped; set its members, such as {path}.{}=...",
            info.name,
            info.grouped
                .and_then(|g| g.entries.first())
                .map_or("Member", |e| e.name)
        ));
    }
    if !rest.is_empty() && !is_group {
        return Err(format!(
            "{path}: {} is {}, not Grouped, so it has no members",
            info.name,
            info.data_type.name()
        ));
    }
    let same: Vec<usize> = level
        .iter()
        .enumerate()
        .filter(|(_, n)| std::ptr::eq(n.info, info))
        .map(|(i, _)| i)
        .collect();
    let target = match step.index {
        Some(i) if i < same.len() => Some(same[i]),
        Some(i) if i == same.len() => None,
        Some(i) => {
            return Err(format!(
                "{path}: {}[{i}] skips occurrences; {} exist, so the next is [{}]",
                info.name,
                same.len(),
                same.len()
            ))
        }
        None if rest.is_empty() && add => None,
        None => same.last().copied(),
    };
    if rest.is_empty() {
        let payload = value::encode(info, text).map_err(|e| format!("{path} {e}"))?;
        match target {
            Some(i) => level[i].value = NodeValue::Leaf(payload),
            None => level.push(Node {
                info,
                value: NodeValue::Leaf(payload),
            }),
        }
        return Ok(());
    }
    let i = match target {
        Some(i) => i,
        None => {
            level.push(Node {
                info,
                value: NodeValue::Group(Vec::new()),
            });
            level.len() - 1
        }
    };
    match &mut level[i].value {
        NodeValue::Group(children) => set_in(children, rest, text, add, path),
        NodeValue::Leaf(_) => Err(format!("{path}: {} holds a value", info.name)),
    }
}

/// Grammar position of an AVP: fixed and named entries in order, others after.
fn rank(grammar: Option<&Grammar>, info: &AvpInfo) -> usize {
    grammar
        .and_then(|g| {
            g.entries
                .iter()
                .position(|e| e.code == info.code && e.vendor == info.vendor)
        })
        .unwrap_or(usize::MAX)
}

fn encode_level(nodes: &[Node], grammar: Option<&Grammar>) -> Vec<RawAvp> {
    let mut sorted: Vec<&Node> = nodes.iter().collect();
    sorted.sort_by_key(|n| rank(grammar, n.info));
    sorted
        .into_iter()
        .map(|n| {
            let data = match &n.value {
                NodeValue::Leaf(b) => b.clone(),
                NodeValue::Group(children) => {
                    let mut out = BytesMut::new();
                    for c in encode_level(children, n.info.grouped.as_ref()) {
                        c.encode(&mut out);
                    }
                    out.freeze()
                }
            };
            RawAvp::new(n.info.code, n.info.must, n.info.vendor, data)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_and_order() {
        let ccr = DICTIONARY.command_by_name("CCR").expect("CCR");
        let mut r = Request::new(ccr);
        r.set(
            "Multiple-Services-Credit-Control.Requested-Service-Unit.CC-Total-Octets",
            "1000",
            false,
        )
        .unwrap();
        r.set("Multiple-Services-Credit-Control.Rating-Group", "7", false)
            .unwrap();
        r.set(
            "Multiple-Services-Credit-Control[1].Rating-Group",
            "8",
            false,
        )
        .unwrap();
        r.set("Session-Id", "s;1", false).unwrap();
        assert!(r.set("Session-Id.X", "1", false).is_err());
        assert!(r
            .set("Multiple-Services-Credit-Control", "1", false)
            .is_err());
        assert!(r
            .set(
                "Multiple-Services-Credit-Control[5].Rating-Group",
                "1",
                false
            )
            .is_err());
        assert!(r.set("No-Such", "1", false).is_err());
        let msg = r.to_message(1, 2);
        let first = msg.avps().next().unwrap().unwrap();
        assert_eq!(first.code, 263, "Session-Id first");
        assert_eq!(
            msg.avps()
                .filter(|a| a.as_ref().unwrap().code == 456)
                .count(),
            2
        );
        assert!(r.missing().contains(&"Origin-Host"));
    }
}
