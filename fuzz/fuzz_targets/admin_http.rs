//! The admin endpoint's HTTP request reader (`admin::http::read_request`), fed the input in
//! pieces whose sizes come from the first byte, plus the percent-decoding of path segments
//! and the client's response parser. Must never panic, and:
//! - an accepted request has a method, a path starting with `/` and no query, and exactly
//!   Content-Length body bytes, within the documented limits;
//! - the only thing ever written back before the answer is `100 Continue`;
//! - `percent_decode` accepts only `%` followed by two hex digits, and inverts
//!   `percent_encode`.
#![no_main]

use diameter_apps::admin::http::{
    parse_response, percent_decode, percent_encode, read_request, ReadError, MAX_BODY, MAX_HEAD,
};
use libfuzzer_sys::fuzz_target;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection that delivers `data` in pieces of at most `piece` bytes, then EOF, and
/// records what is written to it. Never pending.
struct Conn<'a> {
    data: &'a [u8],
    piece: usize,
    written: Vec<u8>,
    reads: usize,
}

impl AsyncRead for Conn<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.piece.min(self.data.len()).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        self.reads += 1;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conn<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn content_length(head: &str) -> Option<usize> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else {
        return;
    };
    let piece = match first {
        0 => 4096,
        n => n as usize,
    };
    let mut conn = Conn {
        data,
        piece,
        written: Vec::new(),
        reads: 0,
    };
    let result = {
        let limits = diameter_apps::admin::http::HttpLimits::default();
        let mut fut = pin!(read_request(&mut conn, &limits));
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("read_request pending on a connection that never blocks"),
        }
    };
    assert!(
        conn.written.is_empty() || conn.written == b"HTTP/1.1 100 Continue\r\n\r\n",
        "wrote {:?}",
        String::from_utf8_lossy(&conn.written)
    );
    match result {
        Ok(req) => {
            assert!(!req.method.is_empty() && !req.method.contains(' '));
            assert!(req.path.starts_with('/') && !req.path.contains('?'));
            assert!(req.body.len() <= MAX_BODY);
            let end = data
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a request has a head")
                + 4;
            assert!(end <= MAX_HEAD, "a head of {end} bytes accepted");
            let head = std::str::from_utf8(&data[..end]).expect("the head is UTF-8");
            let len = content_length(head).unwrap_or(0);
            assert_eq!(req.body.len(), len);
            assert_eq!(req.body, data[end..end + len]);
            for seg in req.path.split('/') {
                check_percent(seg);
            }
        }
        Err(ReadError::Closed) => {}
        Err(e) => {
            let (status, why) = e.response().expect("a status for every refusal");
            assert!(matches!(status, 400 | 413 | 431));
            assert!(!why.is_empty());
        }
    }
    // Reading stops at the limits: the head is read at most up to MAX_HEAD plus one read.
    assert!(conn.reads <= (MAX_HEAD + MAX_BODY) / piece.max(1) + 8);

    if let Ok(s) = std::str::from_utf8(data) {
        check_percent(s);
    }
    if let Some(r) = parse_response(data) {
        assert!(r.body.len() <= data.len());
    }
});

fn check_percent(s: &str) {
    assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
    if let Some(d) = percent_decode(s) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                assert!(
                    b.len() >= i + 3
                        && b[i + 1].is_ascii_hexdigit()
                        && b[i + 2].is_ascii_hexdigit(),
                    "{s:?} decoded to {d:?} with a bad escape"
                );
                i += 3;
            } else {
                i += 1;
            }
        }
    }
}
