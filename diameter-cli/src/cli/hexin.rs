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

/// Parses hex into bytes: plain hex, or an offset-prefixed dump as Wireshark ("Copy as Hex
/// Dump"), `xxd` or `od -A x -t x1` write it (offsets and the ASCII column are dropped).
pub fn parse(text: &str) -> Result<Vec<u8>, HexError> {
    match parse_dump(text) {
        Some(bytes) => Ok(bytes),
        None => parse_plain(text),
    }
}

/// A line's offset: `0000`, `00000010:`, `0x0010:`; returns it and the rest of the line.
fn offset(line: &str) -> Option<(u64, &str)> {
    let l = line.trim_start();
    let l = l.strip_prefix("0x").unwrap_or(l);
    let end = l.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(l.len());
    if !(4..=8).contains(&end) {
        return None;
    }
    let rest = &l[end..];
    let rest = if let Some(r) = rest.strip_prefix(':') {
        r
    } else if rest.starts_with("  ") || rest.starts_with('\t') {
        rest
    } else {
        return None;
    };
    Some((u64::from_str_radix(&l[..end], 16).ok()?, rest))
}

/// Reads an offset-prefixed dump; `None` if the text is not one (first offset must be 0).
fn parse_dump(text: &str) -> Option<Vec<u8>> {
    let lines: Vec<(u64, &str)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(offset)
        .collect::<Option<Vec<_>>>()?;
    if lines.first()?.0 != 0 {
        return None;
    }
    let mut out = Vec::new();
    for (i, (at, rest)) in lines.iter().enumerate() {
        let limit = lines
            .get(i + 1)
            .map(|(next, _)| next.saturating_sub(*at) as usize);
        let mut width = None;
        let mut line = Vec::new();
        for tok in rest.split_whitespace() {
            let hex = tok.len() % 2 == 0 && tok.bytes().all(|c| c.is_ascii_hexdigit());
            if !hex || width.is_some_and(|w| w != tok.len()) {
                break;
            }
            width = Some(tok.len());
            for k in (0..tok.len()).step_by(2) {
                line.push(u8::from_str_radix(&tok[k..k + 2], 16).ok()?);
            }
            if limit.is_some_and(|l| line.len() >= l) {
                break;
            }
        }
        if let Some(l) = limit {
            line.truncate(l);
        }
        out.extend(line);
    }
    // The ASCII column of a short last line can look like hex: trust the Diameter length.
    if out.len() >= 4 && out[0] == 1 {
        let len = u32::from_be_bytes([0, out[1], out[2], out[3]]) as usize;
        if len >= 20 && out.len() > len && out.len() - len < 16 {
            out.truncate(len);
        }
    }
    Some(out)
}

fn parse_plain(text: &str) -> Result<Vec<u8>, HexError> {
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
    fn dumps_with_offsets_and_ascii() {
        let ws = "0000   01 00 00 18 80 00 01 01 00 00 00 00 00 00 10 01   ................\n\
                  0010   00 00 20 01 61 62 63 64                           .. .abcd\n";
        let v = parse(ws).unwrap();
        assert_eq!(v.len(), 24);
        assert_eq!(&v[20..], b"abcd");
        let xxd = "00000000: 0100 0018 8000 0101 0000 0000 0000 1001  ................\n\
                   00000010: 0000 2001 6162 6364                      .. .abcd\n";
        assert_eq!(parse(xxd).unwrap(), v);
        // A short last line whose ASCII column looks like hex.
        let short = "0000  01 00 00 16 80 00 01 01 00 00 00 00 00 00 10 01  ................\n\
                     0010  00 00 20 01 ab 12                                .. ...\n";
        assert_eq!(parse(short).unwrap().len(), 22);
        // Four-digit groups without offsets are plain hex.
        assert_eq!(parse("0100 0014").unwrap(), vec![1, 0, 0, 0x14]);
    }

    #[test]
    fn separators_and_prefixes() {
        assert_eq!(parse("01 02:0a\n0xFF").unwrap(), vec![1, 2, 10, 255]);
        assert_eq!(parse("0102-0304").unwrap(), vec![1, 2, 3, 4]);
        assert!(parse("0g").is_err());
        assert!(parse("012").is_err());
        assert_eq!(encode(&[0xab, 1]), "ab01");
    }
}
