//! Property tests: arbitrary bytes never panic the decoders; arbitrary AVP trees round-trip.

use diameter::core::bytes::{Bytes, BytesMut};
use diameter::core::routing::{RequestScan, RouteScan};
use diameter::core::{AvpIter, Header, Limits, RawAvp, RawMessage};
use diameter::dict::Message;
use proptest::prelude::*;

/// An AVP tree: leaves with random payloads, or grouped nodes with children.
#[derive(Clone, Debug)]
enum Tree {
    Leaf {
        code: u32,
        vendor: u32,
        data: Vec<u8>,
    },
    Node {
        code: u32,
        children: Vec<Tree>,
    },
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = (
        any::<u32>(),
        prop_oneof![Just(0u32), any::<u32>()],
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(code, vendor, data)| Tree::Leaf { code, vendor, data });
    leaf.prop_recursive(4, 64, 6, |inner| {
        (any::<u32>(), prop::collection::vec(inner, 0..6))
            .prop_map(|(code, children)| Tree::Node { code, children })
    })
}

fn to_raw(t: &Tree) -> RawAvp {
    match t {
        Tree::Leaf { code, vendor, data } => {
            RawAvp::new(*code, 0, *vendor, Bytes::from(data.clone()))
        }
        Tree::Node { code, children } => {
            let mut out = BytesMut::new();
            for c in children {
                to_raw(c).encode(&mut out);
            }
            RawAvp::new(*code, 0x40, 0, out.freeze())
        }
    }
}

/// Walks the decoded tree alongside the original and compares.
fn same(raw: &diameter::core::AvpRef<'_>, t: &Tree) -> bool {
    match t {
        Tree::Leaf { code, vendor, data } => {
            raw.code == *code && raw.vendor == *vendor && raw.data() == &data[..]
        }
        Tree::Node { code, children } => {
            let kids: Vec<_> = raw.children().collect();
            raw.code == *code
                && kids.len() == children.len()
                && kids
                    .iter()
                    .zip(children)
                    .all(|(k, c)| k.as_ref().is_ok_and(|k| same(k, c)))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let bytes = Bytes::from(data);
        if let Ok(msg) = RawMessage::decode(bytes.clone(), &Limits::default()) {
            let _ = Message::decode(&msg);
        }
        for avp in AvpIter::new(&bytes).flatten() {
            let _ = avp.children().count();
        }
    }

    #[test]
    fn arbitrary_bodies_under_a_valid_header_never_panic(
        code in prop_oneof![Just(257u32), Just(272), Just(283), Just(271), any::<u32>().prop_map(|c| c & 0xff_ffff)],
        request in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut body = body;
        body.truncate(body.len() / 4 * 4);
        let header = Header::new(code, 4, if request { 0x80 } else { 0 }, 1, 2);
        let msg = RawMessage { header, body: Bytes::from(body) };
        if let Ok(msg) = RawMessage::decode(msg.to_bytes(), &Limits::default()) {
            let _ = Message::decode(&msg);
        }
    }

    /// An agent frames requests with their header checked only: the walk that routes one
    /// must refuse exactly what framing's check would, with the same error, and find what
    /// the server's scan finds.
    #[test]
    fn the_routing_walk_checks_a_body_as_framing_does(
        trees in prop::collection::vec(tree(), 0..4),
        routing in prop::collection::vec(
            (prop_oneof![Just(293u32), Just(283), Just(282), Just(284)], prop::collection::vec(any::<u8>(), 0..12)),
            0..6,
        ),
        tail in prop::collection::vec(any::<u8>(), 0..24),
        few in any::<bool>(),
    ) {
        let mut body = BytesMut::new();
        for (i, (code, data)) in routing.iter().enumerate() {
            RawAvp::new(*code, 0x40, 0, Bytes::from(data.clone())).encode(&mut body);
            if let Some(t) = trees.get(i) {
                to_raw(t).encode(&mut body);
            }
        }
        body.extend_from_slice(&tail[..tail.len() / 4 * 4]);
        let msg = RawMessage { header: Header::new(272, 4, 0xc0, 1, 2), body: body.freeze() };
        let mut limits = Limits::default();
        if few {
            limits.max_avps = 3;
        }
        let routed = RouteScan::checked(&msg, "relay.a.net", &limits);
        let framed = msg.check_avps(&limits);
        prop_assert_eq!(routed.as_ref().err(), framed.as_ref().err());
        if let Ok(scan) = routed {
            prop_assert_eq!(scan.destination, RequestScan::of(&msg));
            let looped = routing.iter().any(|(c, d)| *c == 282 && d.eq_ignore_ascii_case(b"relay.a.net"));
            prop_assert_eq!(scan.looped, looped);
        }
    }

    #[test]
    fn avp_trees_round_trip(trees in prop::collection::vec(tree(), 0..5)) {
        let avps: Vec<RawAvp> = trees.iter().map(to_raw).collect();
        let msg = RawMessage::from_avps(Header::new(999, 0, 0x80, 1, 2), &avps);
        let wire = msg.to_bytes();
        let back = RawMessage::decode(wire.clone(), &Limits::default()).unwrap();
        prop_assert_eq!(back.to_bytes(), wire);
        let decoded: Vec<_> = back.avps().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), trees.len());
        for (d, t) in decoded.iter().zip(&trees) {
            prop_assert!(same(d, t));
        }
    }
}
