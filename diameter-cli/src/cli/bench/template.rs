//! Request templates for the load generator: built once by name with the `send`
//! defaults, then patched per request (Session-Id, CC-Request-Number or
//! Accounting-Record-Number, subscriber).

use crate::cli::build::defaults::{self, CcrOptions, Identity};
use crate::cli::build::describe::find_command;
use crate::cli::build::Request;
use bytes::Bytes;
use diameter_core::avp::AvpFlags;
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

/// Prebuilt AVP lists per step.
#[derive(Clone, Debug)]
pub struct Templates {
    header: Header,
    initial: Vec<RawAvp>,
    update: Vec<RawAvp>,
    termination: Vec<RawAvp>,
    single: Vec<RawAvp>,
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
        let build = |request_type: &str| -> Result<Vec<RawAvp>, String> {
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
            Ok(r.to_avps())
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
        let avps = match step {
            Step::Initial => &self.initial,
            Step::Update => &self.update,
            Step::Termination => &self.termination,
            Step::Single => &self.single,
        };
        let patched: Vec<RawAvp> = avps
            .iter()
            .map(|a| match (a.code, a.vendor) {
                (SESSION_ID, 0) => RawAvp::new(
                    SESSION_ID,
                    a.flags,
                    0,
                    Bytes::copy_from_slice(session_id.as_bytes()),
                ),
                (CC_REQUEST_NUMBER | ACCOUNTING_RECORD_NUMBER, 0) => RawAvp::new(
                    a.code,
                    a.flags,
                    0,
                    Bytes::copy_from_slice(&number.to_be_bytes()),
                ),
                (SUBSCRIPTION_ID, 0) => subscription(msisdn),
                (USER_NAME, 0) if sip_user.is_some() => {
                    let u = sip_user.as_deref().unwrap_or_default();
                    RawAvp::new(USER_NAME, a.flags, 0, Bytes::copy_from_slice(u.as_bytes()))
                }
                (SIP_AOR, 0) if sip_user.is_some() => {
                    let aor = format!("sip:{}", sip_user.as_deref().unwrap_or_default());
                    RawAvp::new(SIP_AOR, a.flags, 0, Bytes::from(aor.into_bytes()))
                }
                _ => a.clone(),
            })
            .collect();
        RawMessage::from_avps(self.header, &patched)
    }
}

fn subscription(msisdn: &str) -> RawAvp {
    let mut body = bytes::BytesMut::new();
    RawAvp::new(450, M, 0, Bytes::from_static(&[0, 0, 0, 0])).encode(&mut body);
    RawAvp::new(444, M, 0, Bytes::copy_from_slice(msisdn.as_bytes())).encode(&mut body);
    RawAvp::new(SUBSCRIPTION_ID, M, 0, body.freeze())
}
