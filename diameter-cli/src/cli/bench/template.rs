//! Request templates for the load generator: built once by name with the `send`
//! defaults, then patched per request (Session-Id, CC-Request-Number or
//! Accounting-Record-Number, subscriber).

use crate::cli::build::defaults::{self, CcrOptions, Identity};
use crate::cli::build::describe::find_command;
use crate::cli::build::Request;
use bytes::{Bytes, BytesMut};
use diameter_core::avp::{put_with, AvpFlags};
use diameter_core::{CommandFlags, Header, RawAvp, RawMessage};

/// What the load consists of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Credit-control sessions: CCR-I, `--updates` CCR-U, CCR-T.
    CcrSession,
    /// One-shot CCR events (EVENT_REQUEST, DIRECT_DEBITING).
    CcrEvent,
    /// SIP User-Authorization-Requests.
    Uar,
    /// Accounting sessions: ACR START, `--updates` INTERIM, STOP (base accounting).
    Acr,
    /// SIP Multimedia-Auth-Request for a REGISTER (scenario step `mar` only).
    #[value(skip)]
    Mar,
    /// SIP Server-Assignment-Request REGISTRATION (scenario step `sar` only).
    #[value(skip)]
    Sar,
}

impl Kind {
    /// Whether requests step through a session (first, `--updates` middle, last).
    pub fn has_sessions(self) -> bool {
        matches!(self, Kind::CcrSession | Kind::Acr)
    }
}

/// One step of a credit-control session, or a one-shot request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// CCR-I.
    Initial,
    /// CCR-U.
    Update,
    /// CCR-T.
    Termination,
    /// CCR event or UAR.
    Single,
}

/// Prebuilt request bodies per step.
#[derive(Clone, Debug)]
pub struct Templates {
    header: Header,
    initial: Body,
    update: Body,
    termination: Body,
    single: Body,
    /// The Application-Id of the requests.
    pub application_id: u32,
    /// Whether it is an accounting application (advertised as Acct-Application-Id).
    pub accounting: bool,
    /// SIP requests: the realm of a user given without one (User-Name and SIP-AOR are
    /// then patched per request).
    sip_realm: Option<String>,
}

const SESSION_ID: u32 = 263;
const CC_REQUEST_NUMBER: u32 = 415;
const ACCOUNTING_RECORD_NUMBER: u32 = 485;
const SUBSCRIPTION_ID: u32 = 443;
const USER_NAME: u32 = 1;
const SIP_AOR: u32 = 122;
const M: u8 = AvpFlags::MANDATORY;

impl Templates {
    /// Builds the templates for a kind.
    pub fn new(kind: Kind, id: &Identity, user: &str) -> Result<Templates, String> {
        let name = match kind {
            Kind::Uar => "UAR",
            Kind::Mar => "MAR",
            Kind::Sar => "SAR",
            Kind::Acr => "ACR",
            Kind::CcrSession | Kind::CcrEvent => "CCR",
        };
        let command = find_command(name)?;
        let build = |request_type: &str| -> Result<Body, String> {
            let mut r = Request::new(command);
            defaults::base(&mut r, id, "template;0;0")?;
            if kind == Kind::Acr {
                let record_type = match request_type {
                    "INITIAL_REQUEST" => "START_RECORD",
                    "UPDATE_REQUEST" => "INTERIM_RECORD",
                    _ => "STOP_RECORD",
                };
                r.default("Accounting-Record-Type", record_type)?;
                r.default("Accounting-Record-Number", "0")?;
                r.default("Acct-Application-Id", &command.application_id.to_string())?;
            } else if kind == Kind::Uar {
                defaults::uar(&mut r, user, &id.destination_realm)?;
            } else if kind == Kind::Mar {
                defaults::uar(&mut r, user, &id.destination_realm)?;
                defaults::mar_register(&mut r, &id.origin_host)?;
            } else if kind == Kind::Sar {
                defaults::uar(&mut r, user, &id.destination_realm)?;
                defaults::sar_registration(&mut r, &id.origin_host)?;
            } else {
                defaults::ccr(
                    &mut r,
                    &CcrOptions {
                        request_type: request_type.into(),
                        ..CcrOptions::default()
                    },
                )?;
                if request_type != "EVENT_REQUEST" && request_type != "INITIAL_REQUEST" {
                    r.set(
                        "Multiple-Services-Credit-Control.Used-Service-Unit.CC-Total-Octets",
                        "1000",
                        false,
                    )?;
                }
            }
            Ok(Body::of(&r.to_avps()))
        };
        let single = match kind {
            Kind::CcrEvent => build("EVENT_REQUEST")?,
            _ => build("INITIAL_REQUEST")?,
        };
        let mut flags = CommandFlags::REQUEST;
        if command.proxiable {
            flags |= CommandFlags::PROXIABLE;
        }
        Ok(Templates {
            header: Header::new(command.code, command.application_id, flags, 0, 0),
            initial: build("INITIAL_REQUEST")?,
            update: build("UPDATE_REQUEST")?,
            termination: build("TERMINATION_REQUEST")?,
            single,
            application_id: command.application_id,
            accounting: kind == Kind::Acr,
            sip_realm: matches!(kind, Kind::Uar | Kind::Mar | Kind::Sar)
                .then(|| id.destination_realm.clone()),
        })
    }

    /// A request for one step of one session.
    pub fn message(&self, step: Step, session_id: &str, number: u32, msisdn: &str) -> RawMessage {
        self.message_for(step, session_id, number, msisdn, None)
    }

    /// A request for one step of one session; SIP requests name `user` (`name@domain`,
    /// or `name` in the destination realm) in User-Name and SIP-AOR when given.
    pub fn message_for(
        &self,
        step: Step,
        session_id: &str,
        number: u32,
        msisdn: &str,
        user: Option<&str>,
    ) -> RawMessage {
        let sip_user = match (&self.sip_realm, user) {
            (Some(realm), Some(u)) => Some(match u.split_once('@') {
                Some(_) => u.to_owned(),
                None => format!("{u}@{realm}"),
            }),
            _ => None,
        };
        let body = match step {
            Step::Initial => &self.initial,
            Step::Update => &self.update,
            Step::Termination => &self.termination,
            Step::Single => &self.single,
        };
        let values = Values {
            session_id,
            number,
            msisdn,
            sip_user: sip_user.as_deref(),
        };
        RawMessage {
            header: self.header,
            body: body.fill(&values),
        }
    }
}

/// A request body: runs of AVPs encoded once, and the AVPs set per request.
#[derive(Clone, Debug, Default)]
struct Body {
    parts: Vec<Part>,
    /// Bytes of the fixed runs.
    fixed_len: usize,
}

#[derive(Clone, Debug)]
enum Part {
    /// AVPs sent as they are, encoded once.
    Fixed(Bytes),
    /// An AVP whose value is set per request (its flags kept); `template` is the AVP
    /// otherwise.
    Patched { patch: Patch, template: RawAvp },
}

/// What is set per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Patch {
    SessionId,
    /// CC-Request-Number or Accounting-Record-Number (`code`).
    Number(u32),
    /// Subscription-Id: END_USER_E164 and the MSISDN.
    Subscription,
    /// User-Name, when a SIP user is given.
    UserName,
    /// SIP-AOR, when a SIP user is given.
    SipAor,
}

/// The values of one request.
struct Values<'a> {
    session_id: &'a str,
    number: u32,
    msisdn: &'a str,
    sip_user: Option<&'a str>,
}

impl Patch {
    fn of(a: &RawAvp) -> Option<Patch> {
        match (a.code, a.vendor) {
            (SESSION_ID, 0) => Some(Patch::SessionId),
            (CC_REQUEST_NUMBER | ACCOUNTING_RECORD_NUMBER, 0) => Some(Patch::Number(a.code)),
            (SUBSCRIPTION_ID, 0) => Some(Patch::Subscription),
            (USER_NAME, 0) => Some(Patch::UserName),
            (SIP_AOR, 0) => Some(Patch::SipAor),
            _ => None,
        }
    }
}

impl Body {
    /// The template of `avps`: consecutive AVPs that are not set per request are encoded
    /// together, once.
    fn of(avps: &[RawAvp]) -> Body {
        let mut body = Body::default();
        let mut run = BytesMut::new();
        for a in avps {
            match Patch::of(a) {
                None => a.encode(&mut run),
                Some(patch) => {
                    if !run.is_empty() {
                        body.fixed_len += run.len();
                        body.parts.push(Part::Fixed(run.split().freeze()));
                    }
                    body.parts.push(Part::Patched {
                        patch,
                        template: a.clone(),
                    });
                }
            }
        }
        if !run.is_empty() {
            body.fixed_len += run.len();
            body.parts.push(Part::Fixed(run.freeze()));
        }
        body
    }

    /// The body of one request: one buffer, written in one pass.
    fn fill(&self, v: &Values<'_>) -> Bytes {
        let extra = v.session_id.len() + v.msisdn.len() + v.sip_user.map_or(0, str::len);
        let mut out = BytesMut::with_capacity(self.fixed_len + extra + 128);
        for part in &self.parts {
            let (patch, template) = match part {
                Part::Fixed(b) => {
                    out.extend_from_slice(b);
                    continue;
                }
                Part::Patched { patch, template } => (*patch, template),
            };
            let flags = template.flags;
            match (patch, v.sip_user) {
                (Patch::SessionId, _) => put(&mut out, SESSION_ID, flags, v.session_id.as_bytes()),
                (Patch::Number(code), _) => put(&mut out, code, flags, &v.number.to_be_bytes()),
                (Patch::Subscription, _) => put_with(&mut out, SUBSCRIPTION_ID, M, 0, |out| {
                    put(out, 450, M, &[0, 0, 0, 0]);
                    put(out, 444, M, v.msisdn.as_bytes());
                }),
                (Patch::UserName, Some(u)) => put(&mut out, USER_NAME, flags, u.as_bytes()),
                (Patch::SipAor, Some(u)) => put_with(&mut out, SIP_AOR, flags, 0, |out| {
                    out.extend_from_slice(b"sip:");
                    out.extend_from_slice(u.as_bytes());
                }),
                (Patch::UserName | Patch::SipAor, None) => template.encode(&mut out),
            }
        }
        out.freeze()
    }
}

/// Writes a base AVP (no Vendor-Id) with `data`.
fn put(out: &mut BytesMut, code: u32, flags: u8, data: &[u8]) {
    put_with(out, code, flags, 0, |out| out.extend_from_slice(data));
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter_core::fields::{find_data, find_str, find_u32};
    use diameter_core::Limits;

    fn identity() -> Identity {
        Identity {
            origin_host: "bench-0.a.net".into(),
            origin_realm: "a.net".into(),
            destination_realm: "b.net".into(),
            destination_host: None,
        }
    }

    /// The request as sent, decoded again (every AVP header checked).
    fn sent(t: &Templates, step: Step, user: Option<&str>) -> RawMessage {
        let m = t.message_for(step, "bench;1.2;3;4", 7, "46700000009", user);
        RawMessage::decode(m.to_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn each_request_gets_its_session_number_and_subscriber_and_the_rest_of_the_template() {
        let t = Templates::new(Kind::CcrSession, &identity(), "alice").unwrap();
        for step in [Step::Initial, Step::Update, Step::Termination] {
            let m = sent(&t, step, None);
            assert_eq!(m.header.command_code, 272);
            assert_eq!(find_str(&m, SESSION_ID).as_deref(), Some("bench;1.2;3;4"));
            assert_eq!(find_u32(&m, CC_REQUEST_NUMBER), Some(7));
            let sub = m.find(SUBSCRIPTION_ID, 0).unwrap();
            let inner: Vec<_> = sub.children().map(Result::unwrap).collect();
            assert_eq!(inner[0].code, 450);
            assert_eq!(inner[0].data(), &[0, 0, 0, 0]);
            assert_eq!(inner[1].code, 444);
            assert_eq!(inner[1].data(), b"46700000009");
            // The AVPs not set per request are the template's, in its order.
            let template = match step {
                Step::Initial => &t.initial,
                Step::Update => &t.update,
                _ => &t.termination,
            };
            let fixed: Vec<u8> = template
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Fixed(b) => Some(b.to_vec()),
                    Part::Patched { .. } => None,
                })
                .flatten()
                .collect();
            let mut rest = BytesMut::new();
            for a in m.avps().map(Result::unwrap) {
                if !matches!(a.code, SESSION_ID | CC_REQUEST_NUMBER | SUBSCRIPTION_ID) {
                    a.to_raw().encode(&mut rest);
                }
            }
            assert_eq!(rest.to_vec(), fixed, "{step:?}");
        }
        // An update reports usage; the first request does not.
        assert!(sent(&t, Step::Update, None).find(456, 0).is_some());
        assert_ne!(
            sent(&t, Step::Initial, None).body,
            sent(&t, Step::Update, None).body
        );
    }

    #[test]
    fn sip_requests_name_the_user_given_or_keep_the_template_s() {
        let t = Templates::new(Kind::Uar, &identity(), "alice").unwrap();
        let m = sent(&t, Step::Single, Some("bob"));
        assert_eq!(find_str(&m, USER_NAME).as_deref(), Some("bob@b.net"));
        assert_eq!(find_data(&m, SIP_AOR), Some(&b"sip:bob@b.net"[..]));
        let m = sent(&t, Step::Single, Some("carol@c.net"));
        assert_eq!(find_str(&m, USER_NAME).as_deref(), Some("carol@c.net"));
        let plain = sent(&t, Step::Single, None);
        let template = t.single.parts.iter().find_map(|p| match p {
            Part::Patched {
                patch: Patch::UserName,
                template,
                ..
            } => Some(template.data.clone()),
            _ => None,
        });
        assert_eq!(find_data(&plain, USER_NAME), template.as_deref());
    }
}
