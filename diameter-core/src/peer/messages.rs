//! The base messages a peer connection exchanges besides CER/CEA: DWR/DWA and DPR/DPA.

use crate::avp::RawAvp;
use crate::base::{app, avp, command, DisconnectCause};
use crate::fields::{str_avp, u32_avp};
use crate::header::{CommandFlags, Header};
use crate::message::RawMessage;
use crate::result_code as rc;

use super::Capabilities;

fn origin(local: &Capabilities) -> [RawAvp; 2] {
    [
        str_avp(avp::ORIGIN_HOST, &local.origin_host),
        str_avp(avp::ORIGIN_REALM, &local.origin_realm),
    ]
}

fn answer_header(request: &Header, result_code: u32) -> Header {
    let flags = if rc::is_protocol_error(result_code) {
        CommandFlags::ERROR
    } else {
        0
    };
    Header::new(
        request.command_code,
        app::COMMON,
        flags,
        request.hop_by_hop,
        request.end_to_end,
    )
}

/// A DWR: Origin-Host, Origin-Realm, Origin-State-Id.
pub fn dwr(local: &Capabilities, hop_by_hop: u32, end_to_end: u32) -> RawMessage {
    let h = Header::new(
        command::DEVICE_WATCHDOG,
        app::COMMON,
        CommandFlags::REQUEST,
        hop_by_hop,
        end_to_end,
    );
    let mut avps = origin(local).to_vec();
    avps.extend(
        local
            .origin_state_id
            .map(|s| u32_avp(avp::ORIGIN_STATE_ID, s)),
    );
    RawMessage::from_avps(h, &avps)
}

/// A DWA answering `request`.
pub fn dwa(local: &Capabilities, request: &Header, result_code: u32) -> RawMessage {
    let mut avps = vec![u32_avp(avp::RESULT_CODE, result_code)];
    avps.extend(origin(local));
    avps.extend(
        local
            .origin_state_id
            .map(|s| u32_avp(avp::ORIGIN_STATE_ID, s)),
    );
    RawMessage::from_avps(answer_header(request, result_code), &avps)
}

/// A DPR with a Disconnect-Cause.
pub fn dpr(
    local: &Capabilities,
    cause: DisconnectCause,
    hop_by_hop: u32,
    end_to_end: u32,
) -> RawMessage {
    let h = Header::new(
        command::DISCONNECT_PEER,
        app::COMMON,
        CommandFlags::REQUEST,
        hop_by_hop,
        end_to_end,
    );
    let mut avps = origin(local).to_vec();
    avps.push(u32_avp(avp::DISCONNECT_CAUSE, cause.code() as u32));
    RawMessage::from_avps(h, &avps)
}

/// A DPA answering `request`.
pub fn dpa(local: &Capabilities, request: &Header, result_code: u32) -> RawMessage {
    let mut avps = vec![u32_avp(avp::RESULT_CODE, result_code)];
    avps.extend(origin(local));
    RawMessage::from_avps(answer_header(request, result_code), &avps)
}

/// A generic answer to a base request with only Result-Code and the origin.
pub fn base_answer(local: &Capabilities, request: &Header, result_code: u32) -> RawMessage {
    dpa(local, request, result_code)
}
