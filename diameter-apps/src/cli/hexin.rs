//! Reading hex dumps: spaces, colons, newlines, `0x` prefixes and `-` are tolerated.

/// Why a hex dump could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct HexError {
    /// Character offset in the input.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for HexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at character {}", self.reason, self.offset)
    }
}

/// Parses a hex dump into bytes.
pub fn parse(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<(usize, u8)> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'0' && high.is_none() && matches!(bytes.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            continue;
        }
        if c.is_ascii_whitespace() || matches!(c, b':' | b'-' | b',' | b'.') {
            if let Some((at, _)) = high {
                if matches!(c, b':' | b'-' | b',' | b'.') {
                    return Err(HexError {
                        offset: at,
                        reason: "odd number of hex digits in a group".into(),
                    });
                }
            }
            i += 1;
            continue;
        }
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(HexError {
                    offset: text[..i].chars().count(),
                    reason: format!("{ch:?} is not a hex digit"),
                });
            }
        };
        match high.take() {
            None => high = Some((i, v)),
            Some((_, h)) => out.push((h << 4) | v),
        }
        i += 1;
    }
    if let Some((at, _)) = high {
        return Err(HexError {
            offset: at,
            reason: "odd number of hex digits (a half byte is left over)".into(),
        });
    }
    Ok(out)
}

/// Lower-case hex without separators.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_and_prefixes() {
        assert_eq!(parse("01 02:0a\n0xFF").unwrap(), vec![1, 2, 10, 255]);
        assert_eq!(parse("0102-0304").unwrap(), vec![1, 2, 3, 4]);
        assert!(parse("0g").is_err());
        assert!(parse("012").is_err());
        assert_eq!(encode(&[0xab, 1]), "ab01");
    }
}
