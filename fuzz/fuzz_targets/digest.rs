//! The SIP Digest code of the SIP AAA server (RFC 2617/7616 as carried by RFC 4740): an
//! Authorization header from a user agent, the Digest-* values of a SIP-Authorization AVP
//! and the response computed from them. Must never panic, and:
//! - a parsed response survives the trip through the SIP-Authorization AVP (and its wire
//!   encoding) unchanged;
//! - `verify` accepts exactly the response `expected` computes, and refuses any other;
//! - a challenge's realm and nonce survive quoting into a header and parsing back.
#![no_main]

use diameter::core::bytes::BytesMut;
use diameter::core::AvpGroup;
use diameter::dict::sip_rfc4740::SipAuthorization;
use diameter_apps::sip::digest::{ha1, Algorithm, Challenge, DigestError, DigestResponse};
use libfuzzer_sys::fuzz_target;

fn check_response(r: &DigestResponse, method: &str) {
    // Through the AVP and the codec.
    let avp = r.to_avp();
    assert_eq!(&DigestResponse::from_avp(&avp), r, "AVP round trip");
    let mut wire = BytesMut::new();
    avp.encode_avps(&mut wire);
    let back = SipAuthorization::decode_payload(&wire.freeze()).expect("our own AVP decodes");
    assert_eq!(&DigestResponse::from_avp(&back), r, "wire round trip");

    let Ok(alg) = r.algorithm() else {
        assert!(matches!(
            r.verify("00", method),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        return;
    };
    let h = ha1(alg, &r.username, &r.realm, "secret");
    match r.expected(&h, method) {
        Ok(exp) => {
            assert_eq!(exp.len(), alg.hex_len());
            let mut good = r.clone();
            good.response = exp.to_ascii_uppercase();
            assert_eq!(
                good.verify(&h, method),
                Ok(()),
                "the expected response verifies"
            );
            if !r.response.eq_ignore_ascii_case(&exp) {
                assert_eq!(r.verify(&h, method), Err(DigestError::Mismatch));
            }
            let _ = r.response_auth(&h);
            let signed = r.clone().sign("secret", method).expect("sign as expected");
            assert_eq!(signed.verify(&h, method), Ok(()));
        }
        Err(e) => assert_eq!(r.verify(&h, method), Err(e)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Algorithm::parse(s);
    // The header, then optionally `\n` and a method.
    let (header, method) = s.split_once('\n').unwrap_or((s, "REGISTER"));
    if let Ok(r) = DigestResponse::parse_header(header) {
        assert!(!r.username.is_empty() && !r.nonce.is_empty() && !r.response.is_empty());
        check_response(&r, method);
        let mut with_method = r.clone();
        with_method.method = Some(method.to_string());
        with_method.entity_body_hash = Some(header.chars().take(16).collect());
        check_response(&with_method, "INVITE");
    }
    // A challenge whose realm and nonce are the two halves of the input: quoting for the
    // header and parsing it back must give them back unchanged.
    let mid = s
        .char_indices()
        .nth(s.chars().count() / 2)
        .map_or(s.len(), |(i, _)| i);
    let (realm, nonce) = s.split_at(mid);
    if nonce.is_empty() {
        return;
    }
    let c = Challenge {
        realm: realm.to_string(),
        nonce: nonce.to_string(),
        ..Challenge::new("r", Algorithm::Sha256Sess)
    };
    let header = format!("{}, username=\"u\", response=\"0\"", c.header_value());
    let parsed = DigestResponse::parse_header(&header).expect("our own challenge parses");
    assert_eq!(parsed.realm, c.realm, "realm through quoting");
    assert_eq!(parsed.nonce, c.nonce, "nonce through quoting");
    let back = Challenge::from_avp(&c.to_avp(None)).expect("our own algorithm");
    assert_eq!(back, c);
    let answer = c
        .answer("u", "secret", "REGISTER", "sip:example.net")
        .expect("answer");
    let h = ha1(c.algorithm, "u", &c.realm, "secret");
    assert_eq!(answer.verify(&h, "REGISTER"), Ok(()));
});
