//! The small HTTP/1.1 of the admin endpoint: one request per connection, read with size
//! limits, answered with a JSON body and `Connection: close`; percent-encoding of path
//! segments; and the client side used by the `diameter ocs|sip ...` commands.
//!
//! The parser is hand-written and strict (it only has to understand the CLI and `curl`):
//! the request line must be `METHOD /path HTTP/1.x`, header names must be tokens, there is
//! no line folding, no bare CR or LF, no `Transfer-Encoding`, at most one `Content-Length`
//! value, and the headers that decide authentication and browser checks
//! (`Authorization`, `Content-Type`, `Origin`, `Host`) must not repeat. Its limits are
//! [`HttpLimits`]; [`parse_request`] is the whole parser over a byte buffer (no I/O), the
//! entry point for fuzzing.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Default of [`HttpLimits::max_head`]: the longest request head (request line and
/// headers), 8 KiB.
pub const MAX_HEAD: usize = 8 * 1024;
/// Default of [`HttpLimits::max_headers`]: 64 header lines.
pub const MAX_HEADERS: usize = 64;
/// Default of [`HttpLimits::max_body`]: the longest request body, 256 KiB (a user profile
/// is the largest).
pub const MAX_BODY: usize = 256 * 1024;
/// The longest response the client reads.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// Limits of the request parser; `HttpLimits::default()` is what the endpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// The longest request head, request line and headers with their CRLFs (default
    /// [`MAX_HEAD`]); longer is answered 431.
    pub max_head: usize,
    /// The most header lines (default [`MAX_HEADERS`]); more is answered 431.
    pub max_headers: usize,
    /// The longest body (default [`MAX_BODY`]); a longer `Content-Length` is answered 413
    /// before the body is read.
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head: MAX_HEAD,
            max_headers: MAX_HEADERS,
            max_body: MAX_BODY,
        }
    }
}

/// A request as read from a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `POST`.
    pub method: String,
    /// The path as sent, without the query; still percent-encoded.
    pub path: String,
    /// The headers in order: names in lower case, values without surrounding blanks.
    pub headers: Vec<(String, String)>,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request could not be read; each maps to an HTTP status.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The client closed the connection before sending a whole request: no answer.
    Closed,
    /// [`parse_request`] was given a prefix of a request (the head or the body is cut
    /// short). Over a connection this is [`ReadError::Closed`].
    Incomplete,
    /// The head is longer than [`HttpLimits::max_head`] or has more than
    /// [`HttpLimits::max_headers`] lines (431).
    HeadTooLarge,
    /// The body is longer than [`HttpLimits::max_body`] (413).
    BodyTooLarge,
    /// The request is malformed (400), with the reason.
    Bad(String),
}

impl ReadError {
    /// The status and the message to answer with, or `None` when nobody is listening.
    pub fn response(&self) -> Option<(u16, String)> {
        match self {
            ReadError::Closed | ReadError::Incomplete => None,
            ReadError::HeadTooLarge => Some((
                431,
                "the request head is too large (too long or too many headers)".into(),
            )),
            ReadError::BodyTooLarge => Some((413, "the request body is too large".into())),
            ReadError::Bad(why) => Some((400, why.clone())),
        }
    }
}

/// The end of the head (after its blank line) in `buf`, searching from `from` (so that a
/// growing buffer is not searched again from the start).
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.min(buf.len());
    buf[start..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| start + i + 4)
}

/// A parsed head.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    length: usize,
    expect_continue: bool,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers that decide authentication or the browser checks: a second copy could make
/// two readers disagree, so it is refused.
const SINGLE: [&str; 4] = ["authorization", "content-type", "origin", "host"];

fn parse_head(head: &[u8], limits: &HttpLimits) -> Result<Head, ReadError> {
    let head = std::str::from_utf8(head)
        .map_err(|_| ReadError::Bad("the request head is not UTF-8".into()))?;
    let head = head.strip_suffix("\r\n\r\n").unwrap_or(head);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if is_token(m) && t.starts_with('/') => (m, t, v),
        _ => return Err(ReadError::Bad(format!("bad request line {request_line:?}"))),
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ReadError::Bad(format!("unsupported version {version:?}")));
    }
    if target.bytes().any(|b| b.is_ascii_control()) {
        return Err(ReadError::Bad(
            "control characters in the request target".into(),
        ));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut length: Option<usize> = None;
    let mut expect_continue = false;
    for line in lines {
        if headers.len() >= limits.max_headers {
            return Err(ReadError::HeadTooLarge);
        }
        if line.contains(['\r', '\n']) {
            return Err(ReadError::Bad("bare CR or LF in the request head".into()));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("bad header line {line:?}")));
        };
        // Also refuses obsolete line folding (a line starting with a blank) and blanks
        // before the colon.
        if !is_token(name) {
            return Err(ReadError::Bad(format!("bad header name {name:?}")));
        }
        let name = name.to_ascii_lowercase();
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(ReadError::Bad(format!(
                "control characters in header {name}"
            )));
        }
        if SINGLE.contains(&name.as_str()) && headers.iter().any(|(n, _)| *n == name) {
            return Err(ReadError::Bad(format!("header {name} is repeated")));
        }
        match name.as_str() {
            "content-length" => {
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ReadError::Bad(format!("bad Content-Length {value:?}")));
                }
                // Too many digits for usize is too large anyway.
                let n = value.parse::<usize>().unwrap_or(usize::MAX);
                if length.is_some_and(|l| l != n) {
                    return Err(ReadError::Bad("conflicting Content-Length headers".into()));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                return Err(ReadError::Bad(
                    "chunked bodies are not supported: send Content-Length".into(),
                ))
            }
            "expect" if value.eq_ignore_ascii_case("100-continue") => expect_continue = true,
            _ => {}
        }
        headers.push((name, value.to_string()));
    }
    let length = length.unwrap_or(0);
    if length > limits.max_body {
        return Err(ReadError::BodyTooLarge);
    }
    Ok(Head {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or_default().to_string(),
        headers,
        length,
        expect_continue,
    })
}

/// Parses one whole request held in `bytes` with the default [`HttpLimits`]: the head,
/// then a body of `Content-Length` bytes (bytes after it are ignored: one request per
/// connection). A prefix of a request is [`ReadError::Incomplete`]. No I/O, no panics on
/// any input; this is the parser [`read_request`] runs, and the fuzzing entry point.
pub fn parse_request(bytes: &[u8]) -> Result<Request, ReadError> {
    parse_request_with(bytes, &HttpLimits::default())
}

/// [`parse_request`] with other limits.
pub fn parse_request_with(bytes: &[u8], limits: &HttpLimits) -> Result<Request, ReadError> {
    let Some(head_end) = find_head_end(bytes, 0) else {
        return Err(if bytes.len() > limits.max_head {
            ReadError::HeadTooLarge
        } else {
            ReadError::Incomplete
        });
    };
    if head_end > limits.max_head {
        return Err(ReadError::HeadTooLarge);
    }
    let head = parse_head(&bytes[..head_end], limits)?;
    let body = bytes
        .get(head_end..head_end.saturating_add(head.length))
        .ok_or(ReadError::Incomplete)?;
    Ok(Request {
        method: head.method,
        path: head.path,
        headers: head.headers,
        body: body.to_vec(),
    })
}

/// Reads one request within `limits`: the head, then a body of `Content-Length` bytes
/// (chunked bodies are refused). Answers `Expect: 100-continue`. The caller bounds the
/// time this takes.
pub async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    limits: &HttpLimits,
) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf, buf.len().saturating_sub(chunk.len() + 3)) {
            break end;
        }
        if buf.len() > limits.max_head {
            return Err(ReadError::HeadTooLarge);
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > limits.max_head {
        return Err(ReadError::HeadTooLarge);
    }
    let head = parse_head(&buf[..head_end], limits)?;
    let mut body = buf.split_off(head_end);
    if body.len() < head.length && head.expect_continue {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| ReadError::Closed)?;
    }
    while body.len() < head.length {
        let want = (head.length - body.len()).min(chunk.len());
        let n = stream
            .read(&mut chunk[..want])
            .await
            .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(head.length);
    Ok(Request {
        method: head.method,
        path: head.path,
        headers: head.headers,
        body,
    })
}

/// The reason phrase of the statuses the endpoint uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a whole response with a JSON body, `extra` headers and no CORS headers, and
/// closes the writing side.
pub async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    extra: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let extra: String = extra.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n\
         X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Decodes `%XX` escapes of a path segment; `None` for a bad escape or non-UTF-8 result.
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits: `from_str_radix` alone would also take a sign (`%+1`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes a path segment: everything but the unreserved characters of RFC 3986
/// (`A-Z a-z 0-9 - . _ ~`) becomes `%XX`, so `;`, `/`, `@` and spaces survive the trip.
pub fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why [`post`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made (refused, unreachable, no answer to the SYN in time).
    #[error("cannot connect to {addr}: {why}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The reason.
        why: String,
    },
    /// Connected, but no whole response came in time, or it was not HTTP.
    #[error("{0}")]
    Response(String),
}

/// A response as read by [`post`].
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends `POST path` with a JSON body and the bearer `token` to `addr` (`HOST:PORT`) and
/// reads the response; the connection gets `connect_timeout`, the whole exchange `timeout`.
pub async fn post(
    addr: &str,
    path: &str,
    body: &[u8],
    token: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let connect_err = |why: String| ClientError::Connect {
        addr: addr.to_string(),
        why,
    };
    let mut stream =
        match tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(addr)).await {
            Err(_) => return Err(connect_err("timed out".into())),
            Ok(Err(e)) => return Err(connect_err(e.to_string())),
            Ok(Ok(s)) => s,
        };
    let exchange = async {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 || out.len() + n > MAX_RESPONSE {
                out.extend_from_slice(&chunk[..n.min(MAX_RESPONSE.saturating_sub(out.len()))]);
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(out)
    };
    let raw = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => {
            return Err(ClientError::Response(format!(
                "no response from {addr} within {} s",
                timeout.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(ClientError::Response(format!("{addr}: {e}"))),
        Ok(Ok(raw)) => raw,
    };
    parse_response(&raw).ok_or_else(|| {
        ClientError::Response(format!("{addr} did not answer with an HTTP response"))
    })
}

/// Splits a raw response into status and body (skipping `100 Continue` interim responses).
pub fn parse_response(mut raw: &[u8]) -> Option<Response> {
    loop {
        let end = find_head_end(raw, 0)?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let status_line = head.split("\r\n").next()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/1.") {
            return None;
        }
        let status: u16 = parts.next()?.parse().ok()?;
        let rest = &raw[end..];
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let length = head.split("\r\n").find_map(|l| {
            let (n, v) = l.split_once(':')?;
            if n.eq_ignore_ascii_case("content-length") {
                v.trim().parse::<usize>().ok()
            } else {
                None
            }
        });
        let body = match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        };
        return Some(Response { status, body });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let sid = "pgw.example.net;1700000000;42 /x@y";
        let enc = percent_encode(sid);
        assert_eq!(enc, "pgw.example.net%3B1700000000%3B42%20%2Fx%40y");
        assert_eq!(percent_decode(&enc).as_deref(), Some(sid));
        assert_eq!(percent_decode("a%3bb").as_deref(), Some("a;b"));
        assert_eq!(percent_decode("a%3"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    /// Found by the `admin_http` fuzz target: `%+3` was decoded as `%03`.
    #[test]
    fn percent_escapes_are_two_hex_digits() {
        assert_eq!(percent_decode("a%+3b"), None);
        assert_eq!(percent_decode("%+f"), None);
        assert_eq!(percent_decode("%-1"), None);
        assert_eq!(percent_decode("%3b%3B").as_deref(), Some(";;"));
    }

    async fn read(raw: &[u8]) -> Result<Request, ReadError> {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        a.write_all(raw).await.expect("write");
        a.shutdown().await.expect("shutdown");
        read_request(&mut b, &HttpLimits::default()).await
    }

    #[tokio::test]
    async fn reads_requests_within_limits() {
        let r =
            read(b"POST /ocs/sessions/a%3Bb/reauth?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
                .await
                .expect("request");
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/ocs/sessions/a%3Bb/reauth");
        assert_eq!(r.body, b"{}");
        let r = read(b"POST / HTTP/1.1\r\n\r\n").await.expect("no body");
        assert!(r.body.is_empty());
        assert_eq!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n{}").await,
            Err(ReadError::Closed)
        );
        assert!(matches!(
            read(b"GARBAGE\r\n\r\n").await,
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").await,
            Err(ReadError::Bad(_))
        ));
        let big = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(read(big.as_bytes()).await, Err(ReadError::BodyTooLarge));
        let long = format!("POST / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(read(long.as_bytes()).await, Err(ReadError::HeadTooLarge));
    }

    #[test]
    fn parses_whole_requests_from_bytes() {
        let r = parse_request(
            b"POST /x?y HTTP/1.1\r\nAuthorization: Bearer abc\r\nContent-Type:  application/json \r\n\
              Content-Length: 2\r\n\r\n{}trailing",
        )
        .expect("request");
        assert_eq!(r.header("authorization"), Some("Bearer abc"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!((r.path.as_str(), r.body.as_slice()), ("/x", &b"{}"[..]));
        // Prefixes are incomplete, never a panic.
        let whole = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
        for n in 0..whole.len() {
            assert_eq!(
                parse_request(&whole[..n]),
                Err(ReadError::Incomplete),
                "{n}"
            );
        }
        let bad = |raw: &[u8]| matches!(parse_request(raw), Err(ReadError::Bad(_)));
        assert!(bad(b"POST / HTTP/1.1\r\n folded: x\r\n\r\n"));
        assert!(bad(b"POST / HTTP/1.1\r\nName : x\r\n\r\n"));
        assert!(bad(b"POST / HTTP/1.1\r\nA: x\nB: y\r\n\r\n"));
        assert!(bad(b"POST / HTTP/2\r\n\r\n"));
        assert!(bad(b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}"));
        assert!(bad(
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
        ));
        assert!(bad(
            b"POST / HTTP/1.1\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n"
        ));
        assert!(bad(b"POST / HTTP/1.1\r\nOrigin: a\r\nOrigin: b\r\n\r\n"));
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            Err(ReadError::BodyTooLarge)
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: y\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse_request(raw.as_bytes()), Err(ReadError::HeadTooLarge));
        let tight = HttpLimits {
            max_head: 32,
            max_headers: 1,
            max_body: 1,
        };
        assert_eq!(
            parse_request_with(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", &tight),
            Err(ReadError::HeadTooLarge)
        );
        assert_eq!(
            parse_request_with(b"POST / HTTP/1.1\r\nA: 2\r\n\r\n", &tight).map(|r| r.method),
            Ok("POST".to_string())
        );
        assert_eq!(
            parse_request_with(
                b"GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
                &HttpLimits {
                    max_head: 64,
                    ..tight
                }
            ),
            Err(ReadError::BodyTooLarge)
        );
    }

    #[test]
    fn parses_responses() {
        let r = parse_response(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}xx",
        )
        .expect("response");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"{}"[..]));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
    }
}
