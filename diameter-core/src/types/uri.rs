//! DiameterURI (RFC 6733 §4.3.1): `aaa[s]://host[:port][;transport=..][;protocol=..]`.

use super::Utf8String;
use crate::avp::AvpRef;
use crate::error::ValueError;
use crate::traits::AvpValue;
use bytes::BytesMut;
use std::fmt;

/// `aaa` (no security required) or `aaas` (TLS/DTLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UriScheme {
    /// `aaa://`
    Aaa,
    /// `aaas://`
    Aaas,
}

/// The `transport=` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UriTransport {
    /// `tcp`
    Tcp,
    /// `sctp`
    Sctp,
    /// `udp`
    Udp,
}

/// The `protocol=` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UriProtocol {
    /// `diameter`
    Diameter,
    /// `radius`
    Radius,
    /// `tacacs+`
    TacacsPlus,
}

/// A parsed DiameterURI; the original text is kept and encoded unchanged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DiameterUri {
    text: Utf8String,
    /// The scheme.
    pub scheme: UriScheme,
    host: (usize, usize),
    /// The port, when given.
    pub port: Option<u16>,
    /// The transport, when given.
    pub transport: Option<UriTransport>,
    /// The protocol, when given.
    pub protocol: Option<UriProtocol>,
}

impl DiameterUri {
    /// Parses a DiameterURI.
    pub fn parse(text: impl Into<Utf8String>) -> Result<Self, ValueError> {
        let text = text.into();
        let s = text.as_str();
        let (scheme, rest_at) = if let Some(r) = s.strip_prefix("aaas://") {
            (UriScheme::Aaas, s.len() - r.len())
        } else if let Some(r) = s.strip_prefix("aaa://") {
            (UriScheme::Aaa, s.len() - r.len())
        } else {
            return Err(ValueError("a DiameterURI starts with aaa:// or aaas://"));
        };
        let rest = &s[rest_at..];
        let authority_end = rest.find(';').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(ValueError("a DiameterURI needs a host"));
        }
        let host_start = rest_at + (host.as_ptr() as usize - authority.as_ptr() as usize);
        let mut uri = DiameterUri {
            scheme,
            host: (host_start, host_start + host.len()),
            port,
            transport: None,
            protocol: None,
            text: Utf8String::default(),
        };
        for param in rest[authority_end..].split(';').filter(|p| !p.is_empty()) {
            match param.split_once('=') {
                Some(("transport", v)) => {
                    uri.transport = Some(match v {
                        "tcp" => UriTransport::Tcp,
                        "sctp" => UriTransport::Sctp,
                        "udp" => UriTransport::Udp,
                        _ => return Err(ValueError("unknown DiameterURI transport")),
                    })
                }
                Some(("protocol", v)) => {
                    uri.protocol = Some(match v {
                        "diameter" => UriProtocol::Diameter,
                        "radius" => UriProtocol::Radius,
                        "tacacs+" => UriProtocol::TacacsPlus,
                        _ => return Err(ValueError("unknown DiameterURI protocol")),
                    })
                }
                _ => return Err(ValueError("unknown DiameterURI parameter")),
            }
        }
        uri.text = text;
        Ok(uri)
    }

    /// The host (FQDN or address; IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.text.as_str()[self.host.0..self.host.1]
    }

    /// The port, or the RFC 6733 default (3868 for aaa, 5658 for aaas).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(match self.scheme {
            UriScheme::Aaa => 3868,
            UriScheme::Aaas => 5658,
        })
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), ValueError> {
    let bad_port = ValueError("invalid DiameterURI port");
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or(ValueError("unclosed [ in DiameterURI"))?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(|_| bad_port)?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(bad_port),
        };
    }
    match authority.split_once(':') {
        Some((h, p)) => Ok((h, Some(p.parse().map_err(|_| bad_port)?))),
        None => Ok((authority, None)),
    }
}

impl Default for DiameterUri {
    /// `aaa://localhost`.
    fn default() -> Self {
        DiameterUri {
            text: Utf8String::from_static("aaa://localhost"),
            scheme: UriScheme::Aaa,
            host: (6, 15),
            port: None,
            transport: None,
            protocol: None,
        }
    }
}

impl fmt::Debug for DiameterUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
impl fmt::Display for DiameterUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AvpValue for DiameterUri {
    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError> {
        DiameterUri::parse(Utf8String::decode_value(avp)?)
    }
    fn encode_value(&self, out: &mut BytesMut) {
        self.text.encode_value(out)
    }
    fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
        self.text.encode_avp(out, code, flags, vendor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_parts() {
        let u = DiameterUri::parse("aaas://ocs.example.net:5868;transport=sctp;protocol=diameter")
            .unwrap();
        assert_eq!(u.scheme, UriScheme::Aaas);
        assert_eq!(u.host(), "ocs.example.net");
        assert_eq!(u.port, Some(5868));
        assert_eq!(u.transport, Some(UriTransport::Sctp));
        assert_eq!(u.protocol, Some(UriProtocol::Diameter));
        let d = DiameterUri::parse("aaa://[::1]").unwrap();
        assert_eq!((d.host(), d.port_or_default()), ("::1", 3868));
        assert!(DiameterUri::parse("http://x").is_err());
        assert!(DiameterUri::parse("aaa://h:99999").is_err());
        assert!(DiameterUri::parse("aaa://h;transport=quic").is_err());
    }
}
