//! A zero-allocation walk that checks every header and AVP length of a message.
//!
//! It is the baseline that the codec benchmarks compare typed decoding against, and the
//! framing check of the transport.

use crate::avp::{padding, AvpFlags};
use crate::error::{DecodeError, ErrorKind};
use crate::header::HEADER_LEN;

/// Reads the length of the next message at the start of `buf`; `None` if fewer than 4 bytes.
pub fn frame_len(buf: &[u8], max: u32) -> Result<Option<usize>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    if buf[0] != 1 {
        return Err(DecodeError::new(ErrorKind::UnsupportedVersion(buf[0])));
    }
    let len = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]);
    if (len as usize) < HEADER_LEN || !len.is_multiple_of(4) {
        return Err(DecodeError::new(ErrorKind::InvalidMessageLength {
            length: len,
            available: buf.len(),
        }));
    }
    if len > max {
        return Err(DecodeError::new(ErrorKind::MessageTooLarge {
            length: len,
            max,
        }));
    }
    Ok(Some(len as usize))
}

/// Walks a whole message, descending into AVPs for which `is_grouped(code, vendor)` holds.
/// Returns the number of AVPs seen, or false-y `None` at the first bad length.
pub fn walk_message(msg: &[u8], is_grouped: impl Fn(u32, u32) -> bool + Copy) -> Option<usize> {
    if msg.len() < HEADER_LEN || msg[0] != 1 {
        return None;
    }
    let len = u32::from_be_bytes([0, msg[1], msg[2], msg[3]]) as usize;
    if len != msg.len() {
        return None;
    }
    walk_avps(&msg[HEADER_LEN..], is_grouped, 0)
}

/// Walks a run of AVPs (a message body or a grouped payload) at nesting `depth`.
pub fn walk_avps(
    mut b: &[u8],
    is_grouped: impl Fn(u32, u32) -> bool + Copy,
    depth: u32,
) -> Option<usize> {
    if depth > 16 {
        return None;
    }
    let mut count = 0;
    while !b.is_empty() {
        if b.len() < 8 {
            return None;
        }
        let code = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let flags = b[4];
        let len = u32::from_be_bytes([0, b[5], b[6], b[7]]) as usize;
        let (hl, vendor) = if flags & AvpFlags::VENDOR != 0 {
            if b.len() < 12 {
                return None;
            }
            (12, u32::from_be_bytes([b[8], b[9], b[10], b[11]]))
        } else {
            (8, 0)
        };
        if len < hl || len > b.len() {
            return None;
        }
        if is_grouped(code, vendor) {
            count += walk_avps(&b[hl..len], is_grouped, depth + 1)?;
        }
        count += 1;
        b = &b[(len + padding(len)).min(b.len())..];
    }
    Some(count)
}
