//! AVPs the integration tests put in hand-made requests.

use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::RawAvp;

/// The M bit.
const M: u8 = 0x40;

/// A Proxy-Info naming `host`, with some state.
pub fn proxy_info(host: &str) -> RawAvp {
    let mut inner = BytesMut::new();
    RawAvp::new(280, M, 0, Bytes::copy_from_slice(host.as_bytes())).encode(&mut inner);
    RawAvp::new(33, M, 0, Bytes::from_static(b"state")).encode(&mut inner);
    RawAvp::new(284, M, 0, inner.freeze())
}
