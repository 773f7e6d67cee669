//! Whatever decodes as a typed message re-encodes to bytes that decode to the same value.
#![no_main]

use diameter::core::{bytes::Bytes, Limits, RawMessage};
use diameter::dict::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(msg) = RawMessage::decode(Bytes::copy_from_slice(data), &limits) else {
        return;
    };
    let Some(Ok(typed)) = Message::decode(&msg) else {
        return;
    };
    let h = msg.header;
    let again = typed
        .encode(h.application_id, h.hop_by_hop, h.end_to_end)
        .freeze();
    let msg2 = RawMessage::decode(again, &limits).expect("our own encoding frames");
    let typed2 = Message::decode(&msg2)
        .expect("known command")
        .expect("our own encoding decodes");
    assert_eq!(typed, typed2);
});
