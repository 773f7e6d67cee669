//! The small HTTP/1.1 of the admin endpoint: one request per connection, read with a size
//! limit, answered with a JSON body and `Connection: close`; percent-encoding of path
//! segments; and the client side used by the `diameter ocs|sip ...` commands.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// The longest request body accepted (a user profile is the largest).
pub const MAX_BODY: usize = 256 * 1024;
/// The longest response the client reads.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// A request as read from a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `POST`.
    pub method: String,
    /// The path as sent, without the query; still percent-encoded.
    pub path: String,
    /// The body (empty when there is none).
    pub body: Vec<u8>,
}

/// Why a request could not be read; each maps to an HTTP status.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The client closed the connection before sending a whole request: no answer.
    Closed,
    /// The head is longer than [`MAX_HEAD`] (431).
    HeadTooLarge,
    /// The body is longer than [`MAX_BODY`] (413).
    BodyTooLarge,
    /// The request is malformed (400), with the reason.
    Bad(String),
}

impl ReadError {
    /// The status and the message to answer with, or `None` when nobody is listening.
    pub fn response(&self) -> Option<(u16, String)> {
        match self {
            ReadError::Closed => None,
            ReadError::HeadTooLarge => Some((
                431,
                format!("the request head is longer than {MAX_HEAD} bytes"),
            )),
            ReadError::BodyTooLarge => Some((
                413,
                format!("the request body is longer than {MAX_BODY} bytes"),
            )),
            ReadError::Bad(why) => Some((400, why.clone())),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads one request: the head up to [`MAX_HEAD`] bytes, then a body of `Content-Length`
/// bytes up to [`MAX_BODY`] (chunked bodies are refused). Answers `Expect: 100-continue`.
/// The caller bounds the time this takes.
pub async fn read_request<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
) -> Result<Request, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
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
    if head_end > MAX_HEAD {
        return Err(ReadError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| ReadError::Bad("the request head is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && t.starts_with('/') => (m, t, v),
        _ => return Err(ReadError::Bad(format!("bad request line {request_line:?}"))),
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(format!("unsupported version {version:?}")));
    }
    let mut length: Option<usize> = None;
    let mut expect_continue = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("bad header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| ReadError::Bad(format!("bad Content-Length {value:?}")))?;
            if length.is_some_and(|l| l != n) {
                return Err(ReadError::Bad("conflicting Content-Length headers".into()));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Bad(
                "chunked bodies are not supported: send Content-Length".into(),
            ));
        } else if name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case("100-continue")
        {
            expect_continue = true;
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY {
        return Err(ReadError::BodyTooLarge);
    }
    let path = target.split('?').next().unwrap_or_default().to_string();
    let method = method.to_string();
    let mut body = buf.split_off(head_end);
    if body.len() < length && expect_continue {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| ReadError::Closed)?;
    }
    while body.len() < length {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Request { method, path, body })
}

/// The reason phrase of the statuses the endpoint uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a whole response with a JSON body and closes the writing side.
pub async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    allow: Option<&str>,
    body: &str,
) -> std::io::Result<()> {
    let allow = allow.map(|a| format!("Allow: {a}\r\n")).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n{allow}\
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

/// Sends `POST path` with a JSON body to `addr` (`HOST:PORT`) and reads the response; the
/// connection gets `connect_timeout`, the whole exchange `timeout`.
pub async fn post(
    addr: &str,
    path: &str,
    body: &[u8],
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
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
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
        let end = find_head_end(raw)?;
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
        read_request(&mut b).await
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
    fn parses_responses() {
        let r = parse_response(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}xx",
        )
        .expect("response");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"{}"[..]));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_none());
    }
}
