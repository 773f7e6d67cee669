//! Reading the hex fixtures captured from real peers (`tests/fixtures/**/*.hex`): `#`
//! lines are comments, whitespace is ignored.

use diameter::core::{Limits, RawMessage};
use diameter::dict::Message;
use std::path::Path;

/// The bytes of a hex fixture.
pub fn load(path: &Path) -> Vec<u8> {
    let name = path.display();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let hex: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(hex.len() & 1 == 0, "{name}: odd number of hex digits");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// The fixture decoded untyped; raw decode → encode must reproduce its bytes.
pub fn raw(path: &Path) -> RawMessage {
    let name = path.display();
    let bytes = load(path);
    let msg = RawMessage::decode(bytes.clone().into(), &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: raw decode: {e:?}"));
    assert_eq!(
        msg.to_bytes().as_ref(),
        &bytes[..],
        "{name}: raw decode -> encode"
    );
    msg
}

/// The fixture decoded into its typed form.
pub fn typed(path: &Path) -> Message {
    let name = path.display();
    let msg = raw(path);
    match Message::decode(&msg) {
        Some(Ok(m)) => m,
        Some(Err(e)) => panic!("{name}: typed decode: {e:?}"),
        None => panic!("{name}: unknown command {}", msg.header.command_code),
    }
}
