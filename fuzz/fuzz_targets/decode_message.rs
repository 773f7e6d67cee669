//! Any bytes: framing, raw and typed decoding must never panic.
#![no_main]

use diameter::core::{bytes::Bytes, message::frame_len, Limits, RawMessage};
use diameter::dict::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = frame_len(data, &limits);
    if let Ok(msg) = RawMessage::decode(Bytes::copy_from_slice(data), &limits) {
        let _ = Message::decode(&msg);
    }
});
