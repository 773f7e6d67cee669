//! The traits that generated code implements: leaf values, grouped AVPs and commands.

use crate::avp::{put_with, AvpIter, AvpRef, RawAvp};
use crate::error::{DecodeError, ErrorKind, ValueError};
use crate::header::{CommandFlags, Header, HEADER_LEN};
use crate::message::RawMessage;
use bytes::{Bytes, BytesMut};

/// A leaf AVP data type (everything but Grouped).
pub trait AvpValue: Sized {
    /// Smallest valid payload length, used for the 5005 example AVP of RFC 6733 §7.5.
    const MIN_LEN: usize = 0;
    /// Decodes the payload of `avp`.
    fn decode_value(avp: &AvpRef<'_>) -> Result<Self, ValueError>;
    /// Appends the payload (no header, no padding).
    fn encode_value(&self, out: &mut BytesMut);
    /// Appends the whole AVP: header, payload, padding. The default fills the length in
    /// after [`AvpValue::encode_value`]; types whose payload is at hand override it to
    /// write the header complete ([`crate::avp::put_fixed`], [`crate::avp::put_bytes`]).
    #[inline]
    fn encode_avp(&self, out: &mut BytesMut, code: u32, flags: u8, vendor: u32) {
        put_with(out, code, flags, vendor, |out| self.encode_value(out));
    }
    /// Decodes the payload of `avp` into `slot`, in place. The decoders call this on a
    /// freshly defaulted slot; types that can fill it without a move override it.
    #[inline(always)]
    fn decode_to(avp: &AvpRef<'_>, slot: &mut Self) -> Result<(), ValueError> {
        *slot = Self::decode_value(avp)?;
        Ok(())
    }
}

/// Limits and options that apply while decoding one message. A context serves one
/// message: it counts the AVPs decoded against [`DecodeCtx::max_avps`].
#[derive(Clone, Debug)]
pub struct DecodeCtx {
    depth: u32,
    /// Deepest allowed nesting of grouped AVPs.
    pub max_depth: u32,
    /// Reject AVPs that carry a flag their definition forbids (5016); off by default,
    /// because many deployed peers set the M-bit loosely.
    pub strict_flags: bool,
    /// Most AVPs decoded in all, at every level (see [`Limits::max_avps`]).
    ///
    /// [`Limits::max_avps`]: crate::message::Limits::max_avps
    pub max_avps: u32,
    /// Most occurrences of one repeated member (see [`Limits::max_repeat`]).
    ///
    /// [`Limits::max_repeat`]: crate::message::Limits::max_repeat
    pub max_repeat: u32,
    /// AVPs decoded so far.
    avps: u32,
    /// Whether [`DecodeCtx::count`] counts: not when the payload cannot hold more than
    /// [`DecodeCtx::max_avps`] AVPs ([`DecodeCtx::start_payload`]).
    counting: bool,
}

impl Default for DecodeCtx {
    /// The limits of [`crate::message::Limits::default`].
    fn default() -> Self {
        DecodeCtx::with_limits(&crate::message::Limits::default())
    }
}

impl DecodeCtx {
    /// A context that applies the given limits.
    pub fn with_limits(limits: &crate::message::Limits) -> Self {
        DecodeCtx {
            depth: 0,
            max_depth: limits.max_depth,
            strict_flags: false,
            max_avps: limits.max_avps,
            max_repeat: limits.max_repeat,
            avps: 0,
            counting: true,
        }
    }

    /// At the start of a payload decoded whole (nothing decoded yet with this context):
    /// every AVP header takes 8 bytes of the payload at whatever level, so a payload of at
    /// most 8 × `max_avps` bytes cannot exceed the count, which is then not kept per AVP.
    #[inline]
    pub(crate) fn start_payload(&mut self, avps: &AvpIter<'_>) {
        if self.depth == 0 && self.avps == 0 {
            self.counting = avps.remaining() / 8 > self.max_avps as usize;
        }
    }

    /// The limits of the node whose handler is running (its
    /// [`NodeLimits::limits`](crate::node::NodeLimits)), or the defaults outside a handler.
    pub fn current() -> Self {
        #[cfg(feature = "tokio")]
        if let Some(limits) = crate::node::decode_limits() {
            return DecodeCtx::with_limits(&limits);
        }
        DecodeCtx::default()
    }

    /// Counts one more AVP against [`DecodeCtx::max_avps`] (5009 beyond it, with this
    /// AVP as Failed-AVP). The generated decoders call it for every AVP.
    #[inline(always)]
    pub fn count(&mut self, avp: AvpRef<'_>) -> Result<(), DecodeError> {
        if !self.counting {
            return Ok(());
        }
        self.avps += 1;
        if self.avps > self.max_avps {
            return Err(too_many_avps(avp, self.max_avps));
        }
        Ok(())
    }

    /// The same context, rejecting forbidden flags with 5016.
    pub fn strict(mut self) -> Self {
        self.strict_flags = true;
        self
    }

    /// The same context with another nesting limit.
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// Checks the flags of a known AVP against its definition's must-not set.
    #[inline]
    pub fn check_flags(&self, avp: &AvpRef<'_>, must_not: u8) -> Result<(), DecodeError> {
        if self.strict_flags && avp.flags & must_not != 0 {
            let kind = ErrorKind::InvalidAvpBitCombo {
                code: avp.code,
                flags: avp.flags,
            };
            return Err(DecodeError::with_avp(kind, avp.raw_bytes()));
        }
        Ok(())
    }

    /// Decodes a leaf value, turning a [`ValueError`] into 5004 with the AVP as Failed-AVP.
    #[inline]
    pub fn value<V: AvpValue>(
        &self,
        avp: &AvpRef<'_>,
        name: &'static str,
    ) -> Result<V, DecodeError> {
        V::decode_value(avp).map_err(|e| avp.invalid_value(name, e.0))
    }

    /// Decodes a leaf value into `slot` in place (see [`AvpValue::decode_to`]); errors as
    /// [`DecodeCtx::value`].
    #[inline(always)]
    pub fn value_to<V: AvpValue>(
        &self,
        avp: &AvpRef<'_>,
        name: &'static str,
        slot: &mut V,
    ) -> Result<(), DecodeError> {
        V::decode_to(avp, slot).map_err(|e| avp.invalid_value(name, e.0))
    }

    /// Decodes a grouped AVP one level deeper; errors inside are reported within this AVP.
    #[inline]
    pub fn group<G: AvpGroup>(&mut self, avp: &AvpRef<'_>) -> Result<G, DecodeError> {
        let mut out = G::default();
        self.group_into(avp, &mut out)?;
        Ok(out)
    }

    /// Like [`DecodeCtx::group`], decoding into an existing value (no move of large structs).
    #[inline]
    pub fn group_into<G: AvpGroup>(
        &mut self,
        avp: &AvpRef<'_>,
        out: &mut G,
    ) -> Result<(), DecodeError> {
        if self.depth >= self.max_depth {
            let kind = ErrorKind::NestingTooDeep {
                max: self.max_depth,
            };
            return Err(DecodeError::with_avp(kind, avp.raw_bytes()));
        }
        self.depth += 1;
        let result = out.decode_into(avp.children(), self);
        self.depth -= 1;
        result.map_err(|e| e.within(avp.code, avp.flags, avp.vendor))
    }

    /// Handles an AVP that the grammar does not name: kept raw when the grammar has
    /// `*[ AVP ]` or the AVP is optional to understand; 5001 for an unknown AVP with the
    /// M-bit; 5008 for a known AVP that this grammar does not allow.
    #[inline]
    pub fn other(
        &self,
        avp: AvpRef<'_>,
        allow_any: bool,
        known: bool,
        out: &mut Vec<RawAvp>,
    ) -> Result<(), DecodeError> {
        if !known && avp.is_mandatory() {
            let kind = ErrorKind::UnsupportedAvp {
                code: avp.code,
                vendor: avp.vendor,
            };
            return Err(DecodeError::with_avp(kind, avp.raw_bytes()));
        }
        if known && !allow_any {
            let kind = ErrorKind::AvpNotAllowed {
                code: avp.code,
                vendor: avp.vendor,
            };
            return Err(DecodeError::with_avp(kind, avp.raw_bytes()));
        }
        out.push(avp.to_raw());
        Ok(())
    }
}

/// Appends a default element and returns it, so that a repeated member is decoded in
/// place: the element is built in the vector's buffer, not on the stack and then copied.
#[inline(always)]
pub fn push_default<T: Default>(items: &mut Vec<T>) -> &mut T {
    if items.len() == items.capacity() {
        grow_one(items);
    }
    let len = items.len();
    items.spare_capacity_mut()[0].write(T::default());
    // SAFETY: the element at `len` was initialised by the write just above.
    unsafe { items.set_len(len + 1) };
    &mut items[len]
}

/// [`push_default`] for a repeated member that already holds `max` elements refuses
/// with 5009 (this AVP as Failed-AVP) instead.
#[inline(always)]
pub fn push_limited<'v, T: Default>(
    items: &'v mut Vec<T>,
    max: u32,
    avp: AvpRef<'_>,
    name: &'static str,
) -> Result<&'v mut T, DecodeError> {
    if items.len() >= max as usize {
        return Err(too_many_repeats(avp, name, max));
    }
    Ok(push_default(items))
}

#[cold]
#[inline(never)]
fn too_many_repeats(avp: AvpRef<'_>, name: &'static str, max: u32) -> DecodeError {
    DecodeError::with_avp(ErrorKind::TooManyOccurrences { name, max }, avp.raw_bytes())
}

/// 5009 for an AVP beyond the number a message may hold in all.
#[cold]
#[inline(never)]
pub(crate) fn too_many_avps(avp: AvpRef<'_>, max: u32) -> DecodeError {
    let kind = ErrorKind::TooManyOccurrences { name: "AVP", max };
    DecodeError::with_avp(kind, avp.raw_bytes())
}

/// Largest first allocation of a repeated member, in bytes, unless one element is
/// larger: glibc serves blocks up to 1,032 bytes from its per-thread cache, and a larger
/// block takes the slow path of `malloc` and `free` (the MSCC vector of a Gy CCR did).
const FIRST_ALLOCATION: usize = 1024;

/// Room for one more element; the first allocation is made directly, which skips the
/// general growth path: up to 4 elements, as many as fit in [`FIRST_ALLOCATION`] bytes
/// (at least one).
#[inline(never)]
fn grow_one<T>(items: &mut Vec<T>) {
    if items.capacity() == 0 {
        let size = std::mem::size_of::<T>().max(1);
        let first = (FIRST_ALLOCATION / size).clamp(1, 4);
        *items = Vec::with_capacity(first);
    } else {
        items.reserve(1);
    }
}

/// Stores the value of an AVP that may occur at most once (5009 on a second one).
#[inline]
pub fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    avp: &AvpRef<'_>,
    name: &'static str,
) -> Result<(), DecodeError> {
    if slot.is_some() {
        let kind = ErrorKind::TooManyOccurrences { name, max: 1 };
        return Err(DecodeError::with_avp(kind, avp.raw_bytes()));
    }
    *slot = Some(value);
    Ok(())
}

/// 5009 for a second occurrence of an AVP allowed once.
#[cold]
pub fn too_many(avp: AvpRef<'_>, name: &'static str) -> DecodeError {
    DecodeError::with_avp(
        ErrorKind::TooManyOccurrences { name, max: 1 },
        avp.raw_bytes(),
    )
}

/// Checks that a repeated AVP occurs between `min` and `max` times (`max` 0 = unbounded).
#[inline]
pub fn check_count<T>(
    items: &[T],
    min: usize,
    max: usize,
    name: &'static str,
    example: impl FnOnce() -> DecodeError,
) -> Result<(), DecodeError> {
    if items.len() < min {
        return Err(example());
    }
    if max != 0 && items.len() > max {
        return Err(DecodeError::new(ErrorKind::TooManyOccurrences {
            name,
            max: max as u32,
        }));
    }
    Ok(())
}

/// A set of AVPs under a grammar: a Grouped AVP's payload or a command's body.
pub trait AvpGroup: Sized + Default {
    /// Decodes from the AVPs of a payload into `self` (which starts as the default),
    /// checking the grammar.
    fn decode_into(&mut self, avps: AvpIter<'_>, ctx: &mut DecodeCtx) -> Result<(), DecodeError>;

    /// Decodes from the AVPs of a payload, checking the grammar.
    #[inline(always)]
    fn decode_avps(avps: AvpIter<'_>, ctx: &mut DecodeCtx) -> Result<Self, DecodeError> {
        ctx.start_payload(&avps);
        let mut out = Self::default();
        out.decode_into(avps, ctx)?;
        Ok(out)
    }
    /// Appends the AVPs, each padded.
    fn encode_avps(&self, out: &mut BytesMut);

    /// Decodes a payload held in `data` (for example a [`RawAvp`]'s data).
    fn decode_payload(data: &Bytes) -> Result<Self, DecodeError> {
        Self::decode_avps(AvpIter::new(data), &mut DecodeCtx::default())
    }
}

/// Writes a grouped AVP: header, the members, length filled in afterwards.
#[inline]
pub fn put_group<G: AvpGroup>(out: &mut BytesMut, code: u32, flags: u8, vendor: u32, group: &G) {
    put_with(out, code, flags, vendor, |out| group.encode_avps(out));
}

/// Writes a leaf AVP.
#[inline]
pub fn put_value<V: AvpValue>(out: &mut BytesMut, code: u32, flags: u8, vendor: u32, value: &V) {
    value.encode_avp(out, code, flags, vendor);
}

/// A request or answer of a command, generated from a dictionary.
pub trait Command: AvpGroup {
    /// Command code.
    const CODE: u32;
    /// Application-Id the command is defined under (RAR, STR and ASR take the
    /// application of their session instead; see [`Command::encode_with`]).
    const APPLICATION_ID: u32;
    /// Whether this is the request (R bit).
    const REQUEST: bool;
    /// Whether the P bit is set.
    const PROXIABLE: bool;
    /// Abbreviation, such as `CCR`.
    const SHORT_NAME: &'static str;
    /// For a request: the AVPs (code, vendor) its answer requires that the request also
    /// carries; an error answer copies them so that it still fits the answer's grammar.
    const ANSWER_ECHO: &'static [(u32, u32)] = &[];

    /// For a decoded request: what a server's routing scan ([`RequestScan::of`]) would
    /// find in its AVPs (the first Destination-Host and Destination-Realm, whether it
    /// carries Proxy-Info), read from the decoded members instead of a second walk of
    /// the bytes. Generated for every request; `None` (the default) when unknown.
    ///
    /// [`RequestScan::of`]: crate::routing::RequestScan::of
    fn destination(&self) -> Option<crate::routing::RequestScan<'_>> {
        None
    }

    /// The command flags this message is sent with.
    fn flags() -> u8 {
        (if Self::REQUEST {
            CommandFlags::REQUEST
        } else {
            0
        }) | (if Self::PROXIABLE {
            CommandFlags::PROXIABLE
        } else {
            0
        })
    }

    /// Encodes the whole message under the command's own Application-Id.
    fn encode(&self, hop_by_hop: u32, end_to_end: u32) -> BytesMut {
        self.encode_with(Self::APPLICATION_ID, hop_by_hop, end_to_end)
    }

    /// Encodes the whole message under the given Application-Id.
    fn encode_with(&self, application_id: u32, hop_by_hop: u32, end_to_end: u32) -> BytesMut {
        let mut out = BytesMut::with_capacity(1024);
        self.encode_into(application_id, hop_by_hop, end_to_end, &mut out);
        out
    }

    /// Appends the whole message to `out` (for example a connection's write buffer, so
    /// that a burst of answers is encoded in place, with no copy); returns its header.
    fn encode_into(
        &self,
        application_id: u32,
        hop_by_hop: u32,
        end_to_end: u32,
        out: &mut BytesMut,
    ) -> Header {
        let start = out.len();
        let mut header = Header::new(
            Self::CODE,
            application_id,
            Self::flags(),
            hop_by_hop,
            end_to_end,
        );
        header.write(out);
        self.encode_avps(out);
        let len = (out.len() - start) as u32;
        out[start + 1..start + 4].copy_from_slice(&len.to_be_bytes()[1..]);
        header.length = len;
        header
    }

    /// Encodes into a [`RawMessage`]: the header as built (not parsed back from the
    /// bytes), the body sharing the encoded buffer.
    fn to_message(&self, application_id: u32, hop_by_hop: u32, end_to_end: u32) -> RawMessage {
        let mut out = BytesMut::with_capacity(1024);
        let header = self.encode_into(application_id, hop_by_hop, end_to_end, &mut out);
        let mut body = out.freeze();
        // Advancing the handle we own takes no reference count, unlike slicing it.
        bytes::Buf::advance(&mut body, HEADER_LEN);
        RawMessage { header, body }
    }

    /// Decodes the body of a received message. Inside a node's handler it applies that
    /// node's [`Limits`](crate::message::Limits) (so a raw handler that decodes its
    /// request is bounded as a typed handler is), elsewhere the defaults; see
    /// [`DecodeCtx::current`].
    #[inline(always)]
    fn decode(msg: &RawMessage) -> Result<Self, DecodeError> {
        Self::decode_avps(msg.avps(), &mut DecodeCtx::current())
    }

    /// Decodes the body of a received message under the given limits.
    #[inline(always)]
    fn decode_with(msg: &RawMessage, limits: &crate::message::Limits) -> Result<Self, DecodeError> {
        Self::decode_avps(msg.avps(), &mut DecodeCtx::with_limits(limits))
    }
}

#[cfg(test)]
mod tests {
    use super::push_default;

    /// An element of `N` bytes.
    struct Wide<const N: usize>([u8; N]);

    impl<const N: usize> Default for Wide<N> {
        fn default() -> Self {
            Wide([0; N])
        }
    }

    /// The first allocation of a repeated member holds up to 4 elements, as many as fit
    /// in 1,024 bytes (the allocator's per-thread cache), at least one; then it doubles.
    #[test]
    fn first_allocation_stays_within_the_allocator_cache() {
        fn first<const N: usize>() -> usize {
            let mut v: Vec<Wide<N>> = Vec::new();
            push_default(&mut v).0[0] = 1;
            v.capacity()
        }
        assert_eq!(first::<8>(), 4);
        assert_eq!(first::<256>(), 4);
        assert_eq!(first::<496>(), 2);
        assert_eq!(first::<608>(), 1);
        assert_eq!(first::<2000>(), 1);
        let mut v: Vec<Wide<496>> = Vec::new();
        for _ in 0..3 {
            push_default(&mut v);
        }
        assert_eq!((v.len(), v.capacity()), (3, 4));
    }
}
