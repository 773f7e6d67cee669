//! What the bench `benches/vs_diameter_crate.rs` and the example `instructions` share:
//! the `diameter` crate 0.7.1's dictionary (given every AVP of ours), its decode and encode.

use criterion::black_box;
use diameter::core::dictionary::DataType;
use diameter_crate::dictionary::{Dictionary, DEFAULT_DICT_XML};
use diameter_crate::DiameterMessage;
use std::fmt::Write;
use std::sync::Arc;

/// The crate's dictionary: its default plus every AVP this workspace defines.
pub fn dictionary() -> Arc<Dictionary> {
    let mut xml = String::from(r#"<diameter><application id="4" name="Charging Control">"#);
    for a in diameter::dict::DICTIONARY.avps {
        let ty = match a.data_type {
            DataType::IpFilterRule | DataType::QosFilterRule => "OctetString",
            t => t.name(),
        };
        let vendor = if a.vendor != 0 {
            format!(r#" vendor-id="{}""#, a.vendor)
        } else {
            String::new()
        };
        let _ = write!(
            xml,
            r#"<avp name="{}" code="{}"{vendor}><data type="{ty}"/></avp>"#,
            a.name, a.code
        );
    }
    xml.push_str("</application></diameter>");
    Arc::new(Dictionary::new(&[&DEFAULT_DICT_XML, &xml]))
}

/// The crate's decode into its tree of AVPs, then drop.
pub fn crate_decode(wire: &[u8], dict: &Arc<Dictionary>) {
    let mut cursor = std::io::Cursor::new(black_box(wire));
    let msg = DiameterMessage::decode_from(&mut cursor, Arc::clone(dict)).unwrap();
    black_box(&msg);
}

/// The crate's encode into a new buffer.
pub fn crate_encode(msg: &DiameterMessage) {
    let mut out = Vec::new();
    black_box(msg).encode_to(&mut out).unwrap();
    black_box(out);
}

/// The crate's decode, kept (to encode it again).
pub fn theirs(wire: &[u8], dict: &Arc<Dictionary>) -> DiameterMessage {
    DiameterMessage::decode_from(&mut std::io::Cursor::new(wire), Arc::clone(dict))
        .unwrap_or_else(|e| panic!("diameter 0.7.1 decode: {e:?}"))
}
