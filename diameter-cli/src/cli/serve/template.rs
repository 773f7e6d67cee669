//! `diameter serve template`: a responder that answers every request from a prepared
//! template, as fast as it can: the far end of the relay comparison
//! (`diameter bench --relay-compare`), so that the relay, not the server, is measured.
//!
//! It frames by length and never decodes a message: CER, DWR and DPR get a prepared
//! CEA, DWA and DPA with the request's identifiers; any other request gets an answer
//! with the same command, application and P bit, the request's Session-Id,
//! Auth-Application-Id, CC-Request-Type and CC-Request-Number copied, then Result-Code
//! 2001, Origin-Host and Origin-Realm. The answers to one read go out in one write.
//! It keeps no state and checks nothing else: a benchmark tool, not a server.

use super::signal;
use crate::cli::exit::{CliError, CliResult, OK};
use bytes::{Buf, BytesMut};
use diameter_core::fields::{str_avp, u32_avp};
use diameter_core::peer::capabilities::cea;
use diameter_core::peer::Capabilities;
use diameter_core::{Header, RawMessage};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Arguments of `diameter serve template`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples:
  diameter serve template --listen 127.0.0.1:3870 --origin-host server.b.net --origin-realm b.net

Answers every request from a template without decoding it (Result-Code 2001, the
request's Session-Id, Auth-Application-Id, CC-Request-Type and CC-Request-Number
copied): the responder behind the relay in `diameter bench --relay-compare`.")]
pub struct TemplateArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:3868", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Our Origin-Host.
    #[arg(long, default_value = "template.localdomain", value_name = "FQDN")]
    pub origin_host: String,
    /// Our Origin-Realm.
    #[arg(long, default_value = "localdomain", value_name = "REALM")]
    pub origin_realm: String,
    /// Auth-Application-Ids advertised in the CEA (repeat the flag for several).
    #[arg(long = "application", default_values_t = [4u32], value_name = "ID")]
    pub applications: Vec<u32>,
    /// A message longer than this (bytes) closes its connection.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE, value_name = "BYTES")]
    pub max_message: usize,
}

/// Default of `--max-message`: 64 KiB, far above any CCR.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

const CER: u32 = 257;
const DWR: u32 = 280;
const DPR: u32 = 282;
/// Top-level AVPs (vendor 0) copied from a request into its answer: Session-Id,
/// Auth-Application-Id, CC-Request-Type, CC-Request-Number.
const COPIED: [u32; 4] = [263, 258, 416, 415];
const HEADER: usize = 20;

/// The prepared answers.
#[derive(Debug, Clone)]
pub struct Templates {
    cea: Vec<u8>,
    dwa: Vec<u8>,
    dpa: Vec<u8>,
    /// Result-Code 2001, Origin-Host, Origin-Realm: the end of every other answer.
    tail: Vec<u8>,
    max_message: usize,
}

/// What to do after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read on.
    Continue,
    /// Write what was answered, then close (a DPR, or a message that cannot be framed).
    Close,
}

impl Templates {
    /// The answers of a responder named `origin_host`/`origin_realm`.
    pub fn new(args: &TemplateArgs) -> Templates {
        let caps = Capabilities {
            origin_host: args.origin_host.clone(),
            origin_realm: args.origin_realm.clone(),
            host_ip_addresses: vec![match args.listen.ip() {
                ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
                ip => ip,
            }],
            vendor_id: 0,
            product_name: "diameter-rs template responder".into(),
            firmware_revision: None,
            origin_state_id: None,
            supported_vendor_ids: vec![10415],
            auth_applications: args.applications.clone(),
            acct_applications: Vec::new(),
            vendor_applications: Vec::new(),
            inband_security: Vec::new(),
        };
        let zero = Header::new(CER, 0, 0, 0, 0);
        let cea = cea(&caps, &zero, 2001, None, None).to_bytes().to_vec();
        let tail_avps = [
            u32_avp(268, 2001),
            str_avp(264, &args.origin_host),
            str_avp(296, &args.origin_realm),
        ];
        let simple = |code: u32| {
            RawMessage::from_avps(Header::new(code, 0, 0, 0, 0), &tail_avps)
                .to_bytes()
                .to_vec()
        };
        let mut tail = BytesMut::new();
        for a in &tail_avps {
            a.encode(&mut tail);
        }
        Templates {
            cea,
            dwa: simple(DWR),
            dpa: simple(DPR),
            tail: tail.to_vec(),
            max_message: args.max_message.max(HEADER),
        }
    }

    /// Answers the whole messages at the front of `input` into `out`, consuming them.
    /// Answers received are dropped (this responder sends no requests).
    pub fn answer_all(&self, input: &mut BytesMut, out: &mut Vec<u8>) -> Next {
        while input.len() >= HEADER {
            let len = u32::from_be_bytes([0, input[1], input[2], input[3]]) as usize;
            if input[0] != 1 || len < HEADER || !len.is_multiple_of(4) || len > self.max_message {
                return Next::Close;
            }
            if input.len() < len {
                break;
            }
            let next = self.answer(&input[..len], out);
            input.advance(len);
            if next == Next::Close {
                return Next::Close;
            }
        }
        Next::Continue
    }

    /// Appends the answer to one whole request (`msg`, framed) to `out`.
    fn answer(&self, msg: &[u8], out: &mut Vec<u8>) -> Next {
        let flags = msg[4];
        if flags & 0x80 == 0 {
            return Next::Continue;
        }
        let code = u32::from_be_bytes([0, msg[5], msg[6], msg[7]]);
        let fixed = match code {
            CER => Some(&self.cea),
            DWR => Some(&self.dwa),
            DPR => Some(&self.dpa),
            _ => None,
        };
        let at = out.len();
        match fixed {
            Some(t) => out.extend_from_slice(t),
            None => {
                // Version, length (patched below), flags (only P kept), command, ids.
                out.extend_from_slice(&msg[..HEADER]);
                out[at + 4] = flags & 0x40;
                copy_avps(&msg[HEADER..], out);
                out.extend_from_slice(&self.tail);
                let len = (out.len() - at) as u32;
                out[at + 1..at + 4].copy_from_slice(&len.to_be_bytes()[1..]);
            }
        }
        out[at + 12..at + 20].copy_from_slice(&msg[12..20]);
        if code == DPR {
            Next::Close
        } else {
            Next::Continue
        }
    }
}

/// Copies the top-level AVPs named in [`COPIED`] (with their padding) from `avps` to
/// `out`, in the request's order; stops at the first AVP whose length does not fit.
fn copy_avps(avps: &[u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    while avps.len() - pos >= 8 {
        let code = u32::from_be_bytes([avps[pos], avps[pos + 1], avps[pos + 2], avps[pos + 3]]);
        let vendor = avps[pos + 4] & 0x80 != 0;
        let len = u32::from_be_bytes([0, avps[pos + 5], avps[pos + 6], avps[pos + 7]]) as usize;
        let padded = (len + 3) & !3;
        if len < 8 || padded > avps.len() - pos {
            return;
        }
        if !vendor && COPIED.contains(&code) {
            out.extend_from_slice(&avps[pos..pos + padded]);
        }
        pos += padded;
    }
}

/// Runs `diameter serve template`.
pub fn run(args: &TemplateArgs) -> CliResult {
    let templates = Arc::new(Templates::new(args));
    signal::runtime()?.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| CliError::network(format!("cannot listen on {}: {e}", args.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::network(format!("cannot read the bound address: {e}")))?;
        signal::announce("template", &[addr]);
        let accept = async {
            while let Ok((s, _)) = listener.accept().await {
                let t = templates.clone();
                tokio::spawn(async move {
                    let _ = connection(s, &t).await;
                });
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = signal::shutdown() => {}
        }
        Ok(OK)
    })
}

/// Serves one connection until the peer closes it, sends a DPR or a bad frame.
async fn connection(mut s: TcpStream, t: &Templates) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        if s.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
        let next = t.answer_all(&mut input, &mut out);
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        if next == Next::Close {
            return Ok(());
        }
        if input.capacity() - input.len() < 4096 {
            input.reserve(64 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diameter_core::{CommandFlags, RawAvp};

    fn args() -> TemplateArgs {
        TemplateArgs {
            listen: "127.0.0.1:0".parse().expect("addr"),
            origin_host: "server.b.net".into(),
            origin_realm: "b.net".into(),
            applications: vec![4],
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }

    fn ccr() -> RawMessage {
        let h = Header::new(
            272,
            4,
            CommandFlags::REQUEST | CommandFlags::PROXIABLE,
            0x1111,
            0x2222,
        );
        RawMessage::from_avps(
            h,
            &[
                str_avp(263, "client;1;2"),
                str_avp(264, "client.a.net"),
                str_avp(296, "a.net"),
                str_avp(283, "b.net"),
                u32_avp(258, 4),
                u32_avp(416, 2),
                u32_avp(415, 7),
                RawAvp::new(873, 0xc0, 10415, bytes::Bytes::from_static(b"abc")),
            ],
        )
    }

    fn avp(m: &RawMessage, code: u32) -> Option<bytes::Bytes> {
        m.find(code, 0).map(|a| a.data)
    }

    fn decode(b: impl Into<bytes::Bytes>) -> RawMessage {
        RawMessage::decode(b.into(), &diameter_core::Limits::default()).expect("decodes")
    }

    #[test]
    fn a_ccr_gets_a_2001_answer_with_its_ids_and_session() {
        let t = Templates::new(&args());
        let mut input = BytesMut::from(&ccr().to_bytes()[..]);
        let mut out = Vec::new();
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Continue);
        assert!(input.is_empty());
        let a = decode(out);
        assert_eq!(a.header.command_code, 272);
        assert_eq!(a.header.application_id, 4);
        assert_eq!(a.header.flags, CommandFlags::PROXIABLE);
        assert_eq!((a.header.hop_by_hop, a.header.end_to_end), (0x1111, 0x2222));
        assert_eq!(avp(&a, 263).as_deref(), Some(&b"client;1;2"[..]));
        assert_eq!(avp(&a, 268).as_deref(), Some(&2001u32.to_be_bytes()[..]));
        assert_eq!(avp(&a, 415).as_deref(), Some(&7u32.to_be_bytes()[..]));
        assert_eq!(avp(&a, 416).as_deref(), Some(&2u32.to_be_bytes()[..]));
        assert_eq!(avp(&a, 264).as_deref(), Some(&b"server.b.net"[..]));
        assert_eq!(avp(&a, 283), None, "Destination-Realm is not copied");
        assert_eq!(avp(&a, 873), None, "vendor AVPs are not copied");
    }

    #[test]
    fn pipelined_and_split_requests_are_answered_in_order() {
        let t = Templates::new(&args());
        let one = ccr().to_bytes();
        let mut wire = Vec::new();
        for _ in 0..3 {
            wire.extend_from_slice(&one);
        }
        let mut input = BytesMut::from(&wire[..wire.len() - 5]);
        let mut out = Vec::new();
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Continue);
        assert_eq!(input.len(), one.len() - 5, "the partial third waits");
        input.extend_from_slice(&wire[wire.len() - 5..]);
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Continue);
        let mut rest = bytes::Bytes::from(out);
        for _ in 0..3 {
            let len = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
            let a = decode(rest.split_to(len));
            assert_eq!(a.header.hop_by_hop, 0x1111);
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn cer_dwr_dpr_and_bad_frames() {
        let t = Templates::new(&args());
        let req = |code| {
            RawMessage::from_avps(Header::new(code, 0, CommandFlags::REQUEST, 5, 6), &[]).to_bytes()
        };
        let mut out = Vec::new();
        let mut input = BytesMut::from(&req(CER)[..]);
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Continue);
        let a = decode(std::mem::take(&mut out));
        assert_eq!((a.header.command_code, a.header.hop_by_hop), (CER, 5));
        assert_eq!(avp(&a, 258).as_deref(), Some(&4u32.to_be_bytes()[..]));
        let mut input = BytesMut::from(&req(DWR)[..]);
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Continue);
        let mut input = BytesMut::from(&req(DPR)[..]);
        out.clear();
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Close);
        let a = decode(std::mem::take(&mut out));
        assert_eq!(a.header.command_code, DPR);
        // An answer is dropped; a frame too long or of a bad version closes.
        let mut input = BytesMut::from(&ccr().to_bytes()[..]);
        input[4] &= !0x80;
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Continue);
        assert!(out.is_empty() && input.is_empty());
        let small = Templates::new(&TemplateArgs {
            max_message: 64,
            ..args()
        });
        let mut input = BytesMut::from(&ccr().to_bytes()[..]);
        assert_eq!(small.answer_all(&mut input, &mut out), Next::Close);
        let mut input = BytesMut::from(&req(DWR)[..]);
        input[0] = 2;
        assert_eq!(t.answer_all(&mut input, &mut out), Next::Close);
        assert!(out.is_empty());
    }
}
