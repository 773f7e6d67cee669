//! Every command of every dictionary: example bytes → typed → bytes, unchanged.

mod common;

use diameter::core::{Limits, RawMessage};
use diameter::dict::{Message, DICTIONARY};

#[test]
fn every_command_round_trips_byte_for_byte() {
    let mut checked = 0;
    for c in DICTIONARY.commands {
        for (request, grammar) in [(true, &c.request), (false, &c.answer)] {
            let raw =
                common::sample_message(c.code, c.application_id, request, c.proxiable, grammar);
            let wire = raw.to_bytes();
            let parsed =
                RawMessage::decode(wire.clone(), &Limits::default()).expect("valid framing");
            assert_eq!(parsed.to_bytes(), wire, "raw round trip of {}", c.name);
            let typed = Message::decode(&parsed)
                .unwrap_or_else(|| panic!("{} has a typed form", c.name))
                .unwrap_or_else(|e| {
                    panic!(
                        "{} {}: {e}",
                        c.name,
                        if request { "request" } else { "answer" }
                    )
                });
            let again = typed.encode(c.application_id, 0x1234, 0x5678).freeze();
            assert_eq!(
                again, wire,
                "typed round trip of {} (request: {request})",
                c.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 2 * 14, "only {checked} messages checked");
}

#[test]
fn unknown_avps_survive_in_other() {
    let c = DICTIONARY
        .command_by_name("CCR")
        .expect("credit control is compiled");
    let raw = common::sample_message(c.code, c.application_id, true, true, &c.request);
    let typed = diameter::dict::dcca_rfc4006::CreditControlRequest::decode(&raw).unwrap();
    assert!(typed
        .other
        .iter()
        .any(|a| a.code == 0xdead && a.vendor == 99_999 && &a.data[..] == b"unknown"));
}

use diameter::core::Command;

/// `encode_into` appends a whole message after what a buffer holds and returns its header;
/// `to_message` keeps that header (no parse back) and shares the encoded body.
#[test]
fn encode_into_appends_and_to_message_keeps_the_built_header() {
    use diameter::core::bytes::BytesMut;
    use diameter::core::{Command, Header};
    use diameter::dict::base_rfc6733::Dwr;
    let dwr = Dwr {
        origin_host: "a.example.net".into(),
        origin_realm: "example.net".into(),
        ..Default::default()
    };
    let alone = dwr.encode(7, 9).freeze();
    let mut out = BytesMut::from(&b"earlier bytes"[..]);
    let header = dwr.encode_into(0, 7, 9, &mut out);
    assert_eq!(&out[..13], b"earlier bytes");
    assert_eq!(&out[13..], &alone[..]);
    assert_eq!(header, Header::parse(&alone, alone.len()).unwrap());
    let msg = dwr.to_message(0, 7, 9);
    assert_eq!(msg.header, header);
    assert_eq!(msg.to_bytes(), alone);
}
