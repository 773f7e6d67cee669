//! Any bytes: framing, raw and typed decoding must never panic. A message framed with its
//! header checked only is checked by the one walk that routes it (an agent's) exactly as
//! framing would have checked it.
#![no_main]

use diameter::core::routing::{RequestScan, RouteScan};
use diameter::core::{bytes::Bytes, message::frame_len, Limits, RawMessage};
use diameter::dict::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = frame_len(data, &limits);
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(msg) = RawMessage::decode_header(bytes.clone(), &limits) {
        let routed = RouteScan::checked(&msg, "relay.example.net", &limits);
        let framed = msg.check_avps(&limits);
        assert_eq!(routed.as_ref().err(), framed.as_ref().err());
        if let Ok(scan) = routed {
            assert_eq!(scan.destination, RequestScan::of(&msg));
        }
    }
    if let Ok(msg) = RawMessage::decode(bytes, &limits) {
        let _ = Message::decode(&msg);
    }
});
