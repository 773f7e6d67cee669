#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ from the project's
test fixtures (tests/fixtures, diameter-cli/tests/fixtures): the Diameter messages as raw
bytes, wrapped in pcap/pcapng captures over TCP and SCTP, Digest headers, admin requests and
peer event sequences. Deterministic; run from anywhere: python3 fuzz/seeds.py"""
import hashlib, os, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def hexfile(path):
    text = []
    for line in open(path):
        line = line.split("#", 1)[0]
        text.append(line)
    return bytes.fromhex("".join("".join(text).replace(":", "").split()))


def fixtures():
    msgs = {}
    for d in ["tests/fixtures", "tests/fixtures/relayed_apps", "diameter-cli/tests/fixtures"]:
        full = os.path.join(ROOT, d)
        for f in sorted(os.listdir(full)):
            if f.endswith(".hex"):
                msgs[d + "/" + f] = hexfile(os.path.join(full, f))
    return msgs


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- packets ----

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, bytes(src), bytes(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, proto, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64, bytes(src), bytes(dst)) + payload


def tcp(sport, dport, seq, flags, payload):
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload


def sctp_data(sport, dport, chunks):
    out = struct.pack("!HHII", sport, dport, 1, 0)
    for tsn, stream, begin, end, data in chunks:
        flags = (2 if begin else 0) | (1 if end else 0)
        body = struct.pack("!IHHI", tsn, stream, 0, 46) + data
        c = struct.pack("!BBH", 0, flags, 4 + len(body)) + body
        out += c + b"\0" * ((4 - len(c) % 4) % 4)
    return out


def eth(ethertype, payload, vlan=False):
    h = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01"
    if vlan:
        h += struct.pack("!HH", 0x8100, 7)
    return h + struct.pack("!H", ethertype) + payload


def sll(ethertype, payload):
    return struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, ethertype) + payload


def tcp_stream(msgs, seg=1460, v6=False, reorder=False):
    """IP packets of a handshake and the messages, alternating directions, cut into segments."""
    a, b = ([0x20, 1, 0xd, 0xb8] + [0] * 11 + [1], [0x20, 1, 0xd, 0xb8] + [0] * 11 + [2]) if v6 else ([192, 0, 2, 1], [192, 0, 2, 2])
    ip = ipv6 if v6 else ipv4
    seq = {0: 1000, 1: 5000}
    ends = {0: (a, b, 49152, 3868), 1: (b, a, 3868, 49152)}
    pkts = [ip(a, b, 6, tcp(49152, 3868, 999, 0x02, b"")), ip(b, a, 6, tcp(3868, 49152, 4999, 0x12, b""))]
    for i, m in enumerate(msgs):
        d = i % 2
        s, t, sp, dp = ends[d]
        parts = [m[k:k + seg] for k in range(0, len(m), seg)]
        ps = []
        for p in parts:
            ps.append(ip(s, t, 6, tcp(sp, dp, seq[d], 0x18, p)))
            seq[d] += len(p)
        if reorder and len(ps) > 1:
            ps = ps[::-1] + ps[:1]  # reversed, plus a retransmission
        pkts += ps
    pkts.append(ip(a, b, 6, tcp(49152, 3868, seq[0], 0x11, b"")))
    return pkts


def sctp_stream(msgs, frag=100):
    a, b = [192, 0, 2, 1], [192, 0, 2, 2]
    pkts, tsn = [], 1
    for i, m in enumerate(msgs):
        parts = [m[k:k + frag] for k in range(0, len(m), frag)]
        for j, p in enumerate(parts):
            pkts.append(ipv4(a, b, 132, sctp_data(3868, 3868, [(tsn, i % 3, j == 0, j == len(parts) - 1, p)])))
            tsn += 1
    return pkts


def pcap(frames, linktype, nano=False, big=False):
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack(e + "IIII", 1767225600 + i, 500, len(f), len(f)) + f
    return out


def pcapng(frames, linktype, big=True, tsresol=None):
    e = ">" if big else "<"

    def block(kind, body):
        pad = (4 - len(body) % 4) % 4
        n = 12 + len(body) + pad
        return struct.pack(e + "II", kind, n) + body + b"\0" * pad + struct.pack(e + "I", n)

    out = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b""
    if tsresol is not None:
        opts = struct.pack(e + "HHB3x", 9, 1, tsresol) + struct.pack(e + "HH", 0, 0)
    out += block(1, struct.pack(e + "HHI", linktype, 0, 0) + opts)
    for i, f in enumerate(frames):
        ts = (1767225600 + i) * 1000000
        pad = (4 - len(f) % 4) % 4
        out += block(6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f + b"\0" * pad)
    # A simple packet block too.
    if frames:
        f = frames[-1]
        out += block(3, struct.pack(e + "I", len(f)) + f + b"\0" * ((4 - len(f) % 4) % 4))
    return out


def peer_seeds():
    """Event programs for peer_fsm (see fuzz_targets/peer_fsm.rs for the encoding)."""
    # settings: flags, tw(2), jitter(1), tc(2), max_backoff(2), cea(2), dpa(2), seed(4)
    settings = lambda flags: bytes([flags]) + b"\x75\x30" + b"\xc8" + b"\x75\x30" + b"\x75\x30" + b"\x27\x10" + b"\x13\x88" + b"\0\0\0\1"
    A, Z = 0, 1  # remote host index: a.example.net (we win), z.example.net (we lose)
    cea_ok = bytes([5, 200, A, 0b0011, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + bytes([0]) + bytes([0])
    # op 5: pick(1) host(1) apps(1) any-header(8) kind(1) [kind args] mutations(1)
    def recv(kind, args=b"", host=A, apps=0b0011, mutate=0):
        return bytes([5, 0, host, apps]) + b"\0" * 8 + bytes([kind]) + args + bytes([mutate])
    start, ok, timeout_next, stop = b"\x00", b"\x02", b"\x0a", b"\x01\x00"
    incoming = lambda host: bytes([4, host, 0b0011]) + b"\0\0\0\7\0\0\0\7" + b"\0"
    seeds = {
        "initiator_open_close": settings(1) + start + ok + recv(0, b"\0") + timeout_next + recv(1) + timeout_next
        + recv(2, b"\0\0\0\9\0\0\0\9") + recv(6, b"\1\0\0\0\1\0\0\0\1") + stop + recv(4),
        "responder_open_dpr": settings(0) + incoming(A) + recv(6, b"\1\0\0\0\1\0\0\0\1") + recv(7, b"\1\0\0\0\1\0\0\0\1")
        + recv(3, b"\1\0\0\0\1\0\0\0\1") + b"\x08\x00" + timeout_next + timeout_next,
        "election_win": settings(1) + start + ok + incoming(A) + timeout_next + timeout_next,
        "election_lose": settings(1) + start + ok + incoming(Z) + recv(0, b"\0", host=Z) + timeout_next,
        "elect_conn_pending": settings(1) + start + incoming(Z) + ok + b"\x03" + timeout_next,
        "watchdog_down_reopen": settings(1) + start + ok + recv(0, b"\0") + timeout_next * 4 + ok + recv(0, b"\0")
        + recv(1) + timeout_next + recv(1) + timeout_next + recv(1),
        "cea_refused": settings(1) + start + ok + recv(0, b"\2") + timeout_next + ok + recv(5),
        "send_app": settings(1) + start + ok + recv(0, b"\0") + b"\x0d\x00\x01" + b"\0" * 8 + b"\x0d\x01\x01" + b"\0" * 8,
    }
    return seeds


def main():
    msgs = fixtures()
    for name, m in msgs.items():
        base = os.path.basename(name)[:-4]
        write("decode_message", base, m)
        write("roundtrip", base, m)
    ordered = [msgs[k] for k in sorted(msgs)]
    cer, cea = msgs["tests/fixtures/erlang_cer.hex"], msgs["tests/fixtures/erlang_cea.hex"]
    ccr, cca = msgs["tests/fixtures/erlang_ccr.hex"], msgs["tests/fixtures/erlang_cca.hex"]
    dwr, dwa = msgs["tests/fixtures/erlang_dwr.hex"], msgs["tests/fixtures/erlang_dwa.hex"]
    small = [cer, cea, ccr, cca, dwr, dwa]
    v4 = tcp_stream(small)
    write("pcap", "eth_ipv4_tcp.pcap", pcap([eth(0x0800, p) for p in v4], 1))
    write("pcap", "vlan_tcp_segmented_reordered.pcap", pcap([eth(0x0800, p, vlan=True) for p in tcp_stream(small, seg=64, reorder=True)], 1))
    write("pcap", "raw_ipv6_tcp_nano_be.pcap", pcap(tcp_stream(small, v6=True), 101, nano=True, big=True))
    write("pcap", "sll_tcp.pcap", pcap([sll(0x0800, p) for p in v4], 113))
    write("pcap", "loopback_tcp.pcap", pcap([struct.pack("<I", 2) + p for p in v4], 0))
    write("pcap", "sctp_fragments.pcap", pcap([eth(0x0800, p) for p in sctp_stream(small)], 1))
    write("pcap", "eth_tcp_be.pcapng", pcapng([eth(0x0800, p) for p in v4], 1))
    write("pcap", "raw_tcp_le_tsresol.pcapng", pcapng(tcp_stream(small, seg=200), 101, big=False, tsresol=9))
    write("pcap", "sctp_le.pcapng", pcapng(sctp_stream(small, frag=48), 101, big=False))
    write("pcap", "all_fixtures.pcap", pcap(tcp_stream(ordered, seg=536), 101))
    cut = pcap([eth(0x0800, p) for p in v4], 1)
    write("pcap", "truncated.pcap", cut[: len(cut) - 37])

    digest = [
        'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
        'Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123", algorithm=SHA-256-sess, cnonce="x", qop=auth-int, nc=00000002\nINVITE',
        'Digest username="a\\"b", realm="r", nonce="n", uri="u", response="r", algorithm=MD5-sess, cnonce="c"',
        'digest username=alice,realm=example.com,nonce=n,uri=sip:x,response=0,algorithm=SHA-256',
        'Digest realm="example.com", nonce="0123456789abcdef", algorithm=MD5, qop="auth", opaque="o", stale=true',
        'Basic dXNlcjpwYXNz',
    ]
    for i, d in enumerate(digest):
        write("digest", "header%d" % i, d.encode())

    http = [
        b"POST /ocs/sessions/a%3Bb/reauth?x=1 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /ocs/accounts/alice/credit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"amount\": 1000}",
        b"POST /sip/users/alice%40example.com/deregister HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 13\r\n\r\n{\"reason\":1}\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    ]
    for i, h in enumerate(http):
        for piece in (0, 1, 7):
            write("admin_http", "req%d_piece%d" % (i, piece), bytes([piece]) + h)

    for name, s in peer_seeds().items():
        write("peer_fsm", name, s)
    print("seeds written to", OUT)


if __name__ == "__main__":
    main()
