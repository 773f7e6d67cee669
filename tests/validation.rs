//! One test per RFC 6733 §7.1 result code the codec produces, each with its exact Failed-AVP.

use diameter::core::answer::{error_answer, Origin};
use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::{
    AvpGroup, Command, DecodeCtx, DecodeError, Header, Limits, RawAvp, RawMessage,
};
use diameter::dict::base_rfc6733::{avp, CapabilitiesExchangeRequest, VendorSpecificApplicationId};

const M: u8 = 0x40;

fn utf8(code: u32, flags: u8, s: &str) -> RawAvp {
    RawAvp::new(code, flags, 0, Bytes::copy_from_slice(s.as_bytes()))
}
fn u32_avp(code: u32, flags: u8, v: u32) -> RawAvp {
    RawAvp::new(code, flags, 0, Bytes::copy_from_slice(&v.to_be_bytes()))
}

/// A valid CER's AVPs.
fn cer_avps() -> Vec<RawAvp> {
    vec![
        utf8(avp::ORIGIN_HOST, M, "client.example.net"),
        utf8(avp::ORIGIN_REALM, M, "example.net"),
        RawAvp::new(
            avp::HOST_IP_ADDRESS,
            M,
            0,
            Bytes::from_static(&[0, 1, 127, 0, 0, 1]),
        ),
        u32_avp(avp::VENDOR_ID, M, 0),
        utf8(avp::PRODUCT_NAME, 0, "test"),
    ]
}

fn cer(avps: &[RawAvp]) -> RawMessage {
    RawMessage::from_avps(Header::new(257, 0, 0x80, 1, 2), avps)
}

fn decode_cer(avps: &[RawAvp]) -> DecodeError {
    CapabilitiesExchangeRequest::decode(&cer(avps)).expect_err("must fail")
}

fn frame(bytes: &[u8]) -> DecodeError {
    RawMessage::decode(Bytes::copy_from_slice(bytes), &Limits::default()).expect_err("must fail")
}

#[test]
fn valid_cer_decodes() {
    let c = CapabilitiesExchangeRequest::decode(&cer(&cer_avps())).unwrap();
    assert_eq!(c.origin_host.as_str(), "client.example.net");
    assert_eq!(c.host_ip_address.len(), 1);
}

#[test]
fn r5011_unsupported_version() {
    let mut b = cer(&cer_avps()).to_bytes().to_vec();
    b[0] = 2;
    let e = frame(&b);
    assert_eq!((e.result_code(), e.failed_avp.clone()), (5011, None));
}

#[test]
fn r5015_invalid_message_length() {
    let mut b = cer(&cer_avps()).to_bytes().to_vec();
    b.truncate(b.len() - 4); // header claims 4 bytes more than present
    assert_eq!(frame(&b).result_code(), 5015);
    let mut b = cer(&cer_avps()).to_bytes().to_vec();
    b[3] = b[3].wrapping_add(1); // not a multiple of 4
    assert_eq!(frame(&b).result_code(), 5015);
    let mut limits = Limits::default();
    limits.max_message_len = 64;
    let e = RawMessage::decode(cer(&cer_avps()).to_bytes(), &limits).unwrap_err();
    assert_eq!(e.result_code(), 5015);
}

#[test]
fn r3008_invalid_header_bits() {
    let mut b = cer(&cer_avps()).to_bytes().to_vec();
    b[4] |= 0x20; // E bit on a request
    assert_eq!(frame(&b).result_code(), 3008);
    let mut b = cer(&cer_avps()).to_bytes().to_vec();
    b[4] |= 0x01; // reserved bit
    assert_eq!(frame(&b).result_code(), 3008);
}

#[test]
fn r5014_invalid_avp_length() {
    let mut b = cer(&cer_avps()).to_bytes().to_vec();
    // First AVP (Origin-Host, 18 bytes of data): claim a length of 4, below the header size.
    b[20 + 7] = 4;
    let e = frame(&b);
    assert_eq!(e.result_code(), 5014);
    let failed = e.failed_avp.clone().unwrap();
    assert_eq!(&failed[..4], &avp::ORIGIN_HOST.to_be_bytes());
}

#[test]
fn r3009_invalid_avp_bits() {
    let mut avps = cer_avps();
    avps[1].flags |= 0x01;
    let e = frame(&cer(&avps).to_bytes());
    assert_eq!(e.result_code(), 3009);
    assert_eq!(e.failed_avp.clone().unwrap(), avps[1].to_bytes());
}

#[test]
fn r5016_forbidden_flag_when_strict() {
    let mut avps = cer_avps();
    avps[4].flags = M; // Product-Name must not have the M-bit
    let msg = cer(&avps);
    assert!(
        CapabilitiesExchangeRequest::decode(&msg).is_ok(),
        "lenient by default"
    );
    let mut ctx = DecodeCtx::default().strict();
    let e = CapabilitiesExchangeRequest::decode_avps(msg.avps(), &mut ctx).unwrap_err();
    assert_eq!(e.result_code(), 5016);
    assert_eq!(e.failed_avp.clone().unwrap(), avps[4].to_bytes());
}

#[test]
fn r5001_unknown_mandatory_avp() {
    let mut avps = cer_avps();
    let unknown = RawAvp::new(4242, M, 77, Bytes::from_static(b"x"));
    avps.push(unknown.clone());
    let e = decode_cer(&avps);
    assert_eq!(e.result_code(), 5001);
    assert_eq!(e.failed_avp.clone().unwrap(), unknown.to_bytes());
    // Without the M-bit it is kept raw.
    let mut avps = cer_avps();
    avps.push(RawAvp::new(4242, 0, 77, Bytes::from_static(b"x")));
    assert_eq!(
        CapabilitiesExchangeRequest::decode(&cer(&avps))
            .unwrap()
            .other
            .len(),
        1
    );
}

#[test]
fn r5004_invalid_avp_value() {
    let mut avps = cer_avps();
    avps[3] = RawAvp::new(avp::VENDOR_ID, M, 0, Bytes::from_static(&[0, 0, 1])); // 3-byte Unsigned32
    let e = decode_cer(&avps);
    assert_eq!(e.result_code(), 5004);
    assert_eq!(e.failed_avp.clone().unwrap(), avps[3].to_bytes());
    let mut avps = cer_avps();
    avps[4] = RawAvp::new(avp::PRODUCT_NAME, 0, 0, Bytes::from_static(&[0xff, 0xfe])); // not UTF-8
    assert_eq!(decode_cer(&avps).result_code(), 5004);
}

#[test]
fn r5005_missing_avp_with_example() {
    let avps: Vec<RawAvp> = cer_avps()
        .into_iter()
        .filter(|a| a.code != avp::ORIGIN_REALM)
        .collect();
    let e = decode_cer(&avps);
    assert_eq!(e.result_code(), 5005);
    // RFC 6733 §7.5: the missing AVP's code and vendor with a zero-filled minimal payload.
    assert_eq!(
        e.failed_avp.clone().unwrap(),
        RawAvp::new(avp::ORIGIN_REALM, M, 0, Bytes::new()).to_bytes()
    );
    let avps: Vec<RawAvp> = cer_avps()
        .into_iter()
        .filter(|a| a.code != avp::VENDOR_ID)
        .collect();
    let e = decode_cer(&avps);
    assert_eq!(
        e.failed_avp.clone().unwrap(),
        RawAvp::new(avp::VENDOR_ID, M, 0, Bytes::from_static(&[0; 4])).to_bytes()
    );
}

#[test]
fn r5008_avp_not_allowed_inside_grouped() {
    // Vendor-Specific-Application-Id has no *[ AVP ]: a known AVP not in its grammar is refused,
    // and Failed-AVP shows it inside its grouped parent.
    let stray = utf8(avp::ORIGIN_HOST, M, "x.example.net");
    let mut inner = BytesMut::new();
    u32_avp(avp::VENDOR_ID, M, 10415).encode(&mut inner);
    stray.encode(&mut inner);
    let vsai = RawAvp::new(avp::VENDOR_SPECIFIC_APPLICATION_ID, M, 0, inner.freeze());
    let mut avps = cer_avps();
    avps.push(vsai);
    let e = decode_cer(&avps);
    assert_eq!(e.result_code(), 5008);
    // Inside the grouped parent the offending AVP is padded, as every AVP in a payload is.
    let mut padded = BytesMut::new();
    stray.encode(&mut padded);
    let expected =
        RawAvp::new(avp::VENDOR_SPECIFIC_APPLICATION_ID, M, 0, padded.freeze()).to_bytes();
    assert_eq!(e.failed_avp.clone().unwrap(), expected);
    let _ = VendorSpecificApplicationId::default();
}

#[test]
fn r5009_too_many_occurrences() {
    let mut avps = cer_avps();
    let second = utf8(avp::ORIGIN_HOST, M, "again.example.net");
    avps.push(second.clone());
    let e = decode_cer(&avps);
    assert_eq!(e.result_code(), 5009);
    assert_eq!(e.failed_avp.clone().unwrap(), second.to_bytes());
}

#[test]
fn nesting_limit_is_enforced() {
    // Proxy-Info nested in itself far beyond the limit must fail cleanly, not overflow.
    let mut payload = Bytes::new();
    for _ in 0..100 {
        payload = RawAvp::new(avp::VENDOR_SPECIFIC_APPLICATION_ID, M, 0, payload).to_bytes();
    }
    let mut avps = cer_avps();
    avps.push(RawAvp::new(
        avp::VENDOR_SPECIFIC_APPLICATION_ID,
        M,
        0,
        payload,
    ));
    let mut ctx = DecodeCtx::default().max_depth(8);
    let e = CapabilitiesExchangeRequest::decode_avps(cer(&avps).avps(), &mut ctx).unwrap_err();
    assert!(matches!(e.result_code(), 5004 | 5008), "got {e}");
}

#[test]
fn error_answer_follows_rfc_6733_section_7_2() {
    let session = utf8(avp::SESSION_ID, M, "client.example.net;1;2");
    let mut avps = vec![session.clone()];
    avps.extend(cer_avps());
    avps.push(RawAvp::new(4242, M, 77, Bytes::from_static(b"x")));
    let request = RawMessage::from_avps(Header::new(272, 4, 0xc0, 11, 22), &avps);
    let err = diameter::dict::dcca_rfc4006::CreditControlRequest::decode(&request).unwrap_err();
    let origin = Origin {
        host: "server.example.net",
        realm: "example.net",
    };
    let answer = error_answer(&request, &origin, &err);
    assert!(!answer.header.is_request());
    assert_eq!(
        (answer.header.hop_by_hop, answer.header.end_to_end),
        (11, 22)
    );
    assert!(answer.header.is_proxiable());
    let rc = answer.find(avp::RESULT_CODE, 0).unwrap();
    let code = u32::from_be_bytes(rc.data[..].try_into().unwrap());
    assert!(
        !answer.header.is_error(),
        "5xxx answers carry no E-bit, got {code}"
    );
    assert_eq!(answer.find(avp::SESSION_ID, 0).unwrap(), session);
    assert!(answer.find(avp::FAILED_AVP, 0).is_some());
    // A protocol error (3xxx) sets the E-bit.
    let mut bad = request.to_bytes().to_vec();
    bad[4] |= 0x01;
    let err = frame(&bad);
    let answer = error_answer(&request, &origin, &err);
    assert!(answer.header.is_error());
}

#[test]
fn error_answer_pads_failed_avp_and_fits_the_answer_grammar() {
    use diameter::dict::dcca_rfc4006::{Cca, Ccr};
    use diameter::dict::Message;
    let ccr = Ccr {
        session_id: "client.example.net;1;9".into(),
        origin_host: "client.example.net".into(),
        origin_realm: "example.net".into(),
        destination_realm: "example.net".into(),
        auth_application_id: 4,
        service_context_id: "32251@3gpp.org".into(),
        cc_request_number: 7,
        // 15 bytes of payload: the copy in Failed-AVP must be padded to 24.
        other: vec![RawAvp::new(4242, M, 77, Bytes::from_static(b"abc"))].into(),
        ..Default::default()
    };
    let request = ccr.to_message(4, 1, 2);
    let err = Ccr::decode(&request)
        .unwrap_err()
        .echoing(<Ccr as Command>::ANSWER_ECHO);
    assert_eq!(err.result_code(), 5001);
    let origin = Origin {
        host: "ocs.example.net",
        realm: "example.net",
    };
    let answer = error_answer(&request, &origin, &err);
    let failed = answer.find(avp::FAILED_AVP, 0).unwrap();
    assert_eq!(failed.data.len() % 4, 0);
    // The answer decodes as a CCA: Auth-Application-Id, CC-Request-Type and -Number copied.
    let wire = RawMessage::decode(answer.to_bytes(), &Limits::default()).unwrap();
    let cca = Cca::decode(&wire).expect("a 5001 answer still fits the CCA grammar");
    assert_eq!(
        (
            cca.result_code,
            cca.cc_request_number,
            cca.auth_application_id
        ),
        (5001, 7, 4)
    );
    // A protocol error (E bit) decodes as the generic answer-message.
    let mut e_answer = answer.clone();
    e_answer.header.flags |= 0x20;
    match Message::decode(&e_answer) {
        Some(Ok(Message::ProtocolError(p))) => {
            assert_eq!(p.result_code, 5001);
            assert_eq!(p.failed_avp.len(), 1);
            assert_eq!(p.failed_avp[0].code, 4242);
        }
        other => panic!("expected a protocol error answer, got {other:?}"),
    }
}
