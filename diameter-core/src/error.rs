//! Decode errors that carry their RFC 6733 Result-Code and the AVP for Failed-AVP.

use crate::avp::{AvpFlags, RawAvp};
use crate::result_code as rc;
use bytes::Bytes;
use std::fmt;

/// Why a leaf value (not a grouped AVP) could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub &'static str);

/// What went wrong while decoding a message; each kind maps to one Result-Code.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 5011: the version field is not 1.
    UnsupportedVersion(u8),
    /// 5015: the length field is not a multiple of 4, is below 20, or disagrees with the bytes.
    InvalidMessageLength {
        /// The length the header claims.
        length: u32,
        /// The bytes that were present.
        available: usize,
    },
    /// 5015: the message is larger than the configured maximum.
    MessageTooLarge {
        /// The length the header claims.
        length: u32,
        /// The configured maximum.
        max: u32,
    },
    /// 3008: reserved command flags set, E with R, or T on an answer.
    InvalidHeaderBits(u8),
    /// 5014: an AVP length is too short or runs past its container.
    InvalidAvpLength {
        /// AVP code.
        code: u32,
        /// Vendor-Id, 0 for none.
        vendor: u32,
        /// The length the AVP header claims.
        length: u32,
    },
    /// 3009: reserved AVP flag bits are set.
    InvalidAvpBits {
        /// AVP code.
        code: u32,
        /// The flags found.
        flags: u8,
    },
    /// 5016: a flag is set that the AVP's definition forbids.
    InvalidAvpBitCombo {
        /// AVP code.
        code: u32,
        /// The flags found.
        flags: u8,
    },
    /// 5001: an AVP with the M-bit that this node does not know.
    UnsupportedAvp {
        /// AVP code.
        code: u32,
        /// Vendor-Id, 0 for none.
        vendor: u32,
    },
    /// 5004: an AVP value that does not fit its type or is out of range.
    InvalidAvpValue {
        /// AVP name.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// 5004: grouped AVPs nested deeper than the configured limit.
    NestingTooDeep {
        /// The configured maximum depth.
        max: u32,
    },
    /// 5005: a required AVP is absent.
    MissingAvp {
        /// AVP name.
        name: &'static str,
    },
    /// 5008: an AVP that the grammar does not allow here.
    AvpNotAllowed {
        /// AVP code.
        code: u32,
        /// Vendor-Id, 0 for none.
        vendor: u32,
    },
    /// 5009: an AVP occurs more often than the grammar allows.
    TooManyOccurrences {
        /// AVP name.
        name: &'static str,
        /// The grammar's maximum.
        max: u32,
    },
}

impl ErrorKind {
    /// The RFC 6733 Result-Code for this error.
    pub fn result_code(&self) -> u32 {
        match self {
            ErrorKind::UnsupportedVersion(_) => rc::DIAMETER_UNSUPPORTED_VERSION,
            ErrorKind::InvalidMessageLength { .. } | ErrorKind::MessageTooLarge { .. } => {
                rc::DIAMETER_INVALID_MESSAGE_LENGTH
            }
            ErrorKind::InvalidHeaderBits(_) => rc::DIAMETER_INVALID_HDR_BITS,
            ErrorKind::InvalidAvpLength { .. } => rc::DIAMETER_INVALID_AVP_LENGTH,
            ErrorKind::InvalidAvpBits { .. } => rc::DIAMETER_INVALID_AVP_BITS,
            ErrorKind::InvalidAvpBitCombo { .. } => rc::DIAMETER_INVALID_AVP_BIT_COMBO,
            ErrorKind::UnsupportedAvp { .. } => rc::DIAMETER_AVP_UNSUPPORTED,
            ErrorKind::InvalidAvpValue { .. } | ErrorKind::NestingTooDeep { .. } => {
                rc::DIAMETER_INVALID_AVP_VALUE
            }
            ErrorKind::MissingAvp { .. } => rc::DIAMETER_MISSING_AVP,
            ErrorKind::AvpNotAllowed { .. } => rc::DIAMETER_AVP_NOT_ALLOWED,
            ErrorKind::TooManyOccurrences { .. } => rc::DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            ErrorKind::InvalidMessageLength { length, available } => {
                write!(
                    f,
                    "invalid message length {length} ({available} bytes present)"
                )
            }
            ErrorKind::MessageTooLarge { length, max } => {
                write!(f, "message length {length} exceeds the maximum {max}")
            }
            ErrorKind::InvalidHeaderBits(b) => write!(f, "invalid command flags {b:#04x}"),
            ErrorKind::InvalidAvpLength {
                code,
                vendor,
                length,
            } => {
                write!(f, "invalid length {length} of AVP {code} (vendor {vendor})")
            }
            ErrorKind::InvalidAvpBits { code, flags } => {
                write!(f, "invalid flags {flags:#04x} on AVP {code}")
            }
            ErrorKind::InvalidAvpBitCombo { code, flags } => {
                write!(f, "flags {flags:#04x} not allowed on AVP {code}")
            }
            ErrorKind::UnsupportedAvp { code, vendor } => {
                write!(f, "unsupported AVP {code} (vendor {vendor}) with the M-bit")
            }
            ErrorKind::InvalidAvpValue { name, reason } => {
                write!(f, "invalid value of {name}: {reason}")
            }
            ErrorKind::NestingTooDeep { max } => write!(f, "grouped AVPs nested deeper than {max}"),
            ErrorKind::MissingAvp { name } => write!(f, "missing AVP {name}"),
            ErrorKind::AvpNotAllowed { code, vendor } => {
                write!(f, "AVP {code} (vendor {vendor}) not allowed here")
            }
            ErrorKind::TooManyOccurrences { name, max } => {
                write!(f, "{name} occurs more than {max} times")
            }
        }
    }
}

/// A decode failure: the kind (and so the Result-Code) and the AVP to put in Failed-AVP.
///
/// The details sit behind one pointer, so `Result<T, DecodeError>` stays a register or two
/// wide on the decoder's hot path; the fields read through `Deref`.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError(Box<DecodeErrorInfo>);

/// The details of a [`DecodeError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeErrorInfo {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The offending AVP as it should appear inside Failed-AVP (whole AVP, header included,
    /// without trailing padding).
    pub failed_avp: Option<Bytes>,
    /// AVPs (code, vendor) that the command's answer requires and the request carries, to
    /// be copied into an error answer so that it still fits the answer's grammar
    /// (e.g. Auth-Application-Id, CC-Request-Type and CC-Request-Number for a CCA).
    pub answer_echo: &'static [(u32, u32)],
}

impl std::ops::Deref for DecodeError {
    type Target = DecodeErrorInfo;
    fn deref(&self) -> &DecodeErrorInfo {
        &self.0
    }
}

impl std::ops::DerefMut for DecodeError {
    fn deref_mut(&mut self) -> &mut DecodeErrorInfo {
        &mut self.0
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.kind, f)
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    /// An error with no offending AVP (header errors).
    #[cold]
    pub fn new(kind: ErrorKind) -> Self {
        DecodeError(Box::new(DecodeErrorInfo {
            kind,
            failed_avp: None,
            answer_echo: &[],
        }))
    }

    /// An error whose Failed-AVP is the given AVP bytes.
    #[cold]
    pub fn with_avp(kind: ErrorKind, avp: Bytes) -> Self {
        DecodeError(Box::new(DecodeErrorInfo {
            kind,
            failed_avp: Some(avp),
            answer_echo: &[],
        }))
    }

    /// The same error, naming the request AVPs an error answer should copy.
    pub fn echoing(mut self, answer_echo: &'static [(u32, u32)]) -> Self {
        self.answer_echo = answer_echo;
        self
    }

    /// 5005 with the RFC 6733 §7.5 example AVP: right code and vendor, zero-filled minimal payload.
    pub fn missing(name: &'static str, code: u32, vendor: u32, flags: u8, min_len: usize) -> Self {
        let example = RawAvp::new(
            code,
            flags | if vendor != 0 { AvpFlags::VENDOR } else { 0 },
            vendor,
            Bytes::from(vec![0u8; min_len]),
        );
        DecodeError::with_avp(ErrorKind::MissingAvp { name }, example.to_bytes())
    }

    /// The RFC 6733 Result-Code for this error.
    pub fn result_code(&self) -> u32 {
        self.kind.result_code()
    }

    /// Wraps the Failed-AVP in its enclosing grouped AVP, as RFC 6733 §7.5 allows, so the
    /// receiver sees where the offending AVP sat.
    pub fn within(mut self, code: u32, flags: u8, vendor: u32) -> Self {
        if let Some(inner) = self.failed_avp.take() {
            // Inside a grouped payload every AVP is padded (RFC 6733 §4.4).
            self.failed_avp = Some(RawAvp::new(code, flags, vendor, padded(inner)).to_bytes());
        }
        self
    }
}

/// The AVP bytes padded to a multiple of four, as they must appear inside a grouped AVP.
pub fn padded(avp: Bytes) -> Bytes {
    let pad = crate::avp::padding(avp.len());
    if pad == 0 {
        return avp;
    }
    let mut v = Vec::with_capacity(avp.len() + pad);
    v.extend_from_slice(&avp);
    v.resize(avp.len() + pad, 0);
    Bytes::from(v)
}
