#!/usr/bin/python3
"""Write the synthetic captures under tests/data/pcap/ and the netpkt and
tcpreasm seed corpora under fuzz/corpus/.

Run from the repository root with Debian's python (it has scapy):

    /usr/bin/python3 scripts/gen_test_pcaps.py

The output is deterministic.  tests/unit/test_netpkt.c asserts what each
file holds, so a change here needs a change there.  What each capture
should produce is written next to it below.
"""

import os
import struct
from decimal import Decimal

from scapy.all import (ARP, DNS, DNSQR, DNSRR, ICMP, IP, TCP, UDP, Dot1AD,
                       Dot1Q, Ether, IPOption_Router_Alert, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, PcapNgWriter,
                       PcapWriter, Raw)
from scapy.layers.l2 import CookedLinux

OUT = "tests/data/pcap"
NETPKT_CORPUS = "fuzz/corpus/netpkt"
TCPREASM_CORPUS = "fuzz/corpus/tcpreasm"

C4, S4 = "192.0.2.10", "192.0.2.53"
C6, S6 = "2001:db8::10", "2001:db8::53"
MAC_C, MAC_S = "02:00:00:00:00:0a", "02:00:00:00:00:35"
T0 = Decimal(1700000000)  # exact nanoseconds: no floats

LINKTYPE_NULL = 0
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276


def query(qid, name, qtype="A"):
    return DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))


def response(qid, name, qtype="A", rdata="192.0.2.1"):
    return DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype),
               an=DNSRR(rrname=name, type=qtype, ttl=300, rdata=rdata))


def eth(payload, src=MAC_C, dst=MAC_S):
    return Ether(src=src, dst=dst) / payload


def stamp(pkt, t):
    pkt.time = t
    return pkt


def write(name, pkts, linktype, nano=False):
    with PcapWriter(os.path.join(OUT, name), linktype=linktype,
                    nano=nano, sync=True) as w:
        for p in pkts:
            w.write(p)


def udp4(sport, dport, dns, src=C4, dst=S4, **ipopts):
    return IP(src=src, dst=dst, **ipopts) / UDP(sport=sport, dport=dport) / dns


def udp6(sport, dport, dns, src=C6, dst=S6):
    return IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / dns


def eth_vlan():
    """3 DNS events (2 queries, 1 response), 4 skipped, 3 malformed."""
    q1 = query(1, "vlan.example")
    r1 = response(1, "vlan.example")
    trunc = bytearray(bytes(udp4(40002, 53, query(3, "cut.example"))))
    trunc[2:4] = struct.pack(">H", 200)  # claims more than captured
    trunc[10:12] = b"\0\0"
    tags = Ether(src=MAC_C, dst=MAC_S, type=0x8100)
    deep = bytes(tags)[:12] + b"\x81\x00\x00\x01" * 9 + b"\x08\x00"
    pkts = [
        stamp(eth(Dot1Q(vlan=100) / udp4(40000, 53, q1)),
              T0 + Decimal("0.123456789")),
        stamp(eth(Dot1Q(vlan=100) / udp4(53, 40000, r1, src=S4, dst=C4),
                  src=MAC_S, dst=MAC_C), T0 + Decimal("0.2")),
        eth(Dot1AD(vlan=200) / Dot1Q(vlan=10) /
            udp4(40001, 53, query(2, "qinq.example", "AAAA"),
                 options=[IPOption_Router_Alert()])),
        eth(ARP(psrc=C4, pdst=S4)),
        eth(IP(src=C4, dst=S4) / ICMP()),
        eth(udp4(40003, 53, query(4, "frag.example"), flags="MF")),
        eth(IP(src=C4, dst=S4, proto=17, frag=100) / Raw(b"x" * 16)),
        eth(udp4(40004, 53, Raw(b"\x00\x01garbage"))),
        Raw(bytes(tags)[:12] + b"\x08\x00" + bytes(trunc)[:60]),
        Raw(deep + bytes(udp4(40005, 53, query(5, "deep.example")))),
    ]
    for i, p in enumerate(pkts[2:], 2):
        stamp(p, T0 + 1 + i)
    write("eth_vlan.pcap", pkts, LINKTYPE_EN10MB, nano=True)
    return pkts


def sll():
    """2 DNS events."""
    pkts = [
        stamp(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6,
                          src=b"\x02\0\0\0\0\x0a\0\0", proto=0x0800) /
              udp4(40010, 53, query(3, "sll.example")), T0 + 10),
        stamp(CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6,
                          src=b"\x02\0\0\0\0\x35\0\0", proto=0x0800) /
              udp4(53, 40010, response(3, "sll.example"), src=S4, dst=C4),
              T0 + Decimal("10.01")),
    ]
    write("sll.pcap", pkts, LINKTYPE_LINUX_SLL)
    return pkts


def sll2_header(proto, pkttype):
    """Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type,
    address length, address."""
    return struct.pack(">HHIHBB8s", proto, 0, 2, 1, pkttype, 6,
                       b"\x02\0\0\0\0\x0a\0\0")


def sll2():
    """3 DNS events (IPv4 query and response, IPv6 query)."""
    frames = [
        sll2_header(0x0800, 0) + bytes(udp4(40020, 53,
                                            query(4, "sll2.example"))),
        sll2_header(0x0800, 4) + bytes(udp4(53, 40020,
                                            response(4, "sll2.example"),
                                            src=S4, dst=C4)),
        sll2_header(0x86dd, 0) + bytes(udp6(40021, 53,
                                            query(5, "sll2v6.example",
                                                  "AAAA"))),
    ]
    pkts = [stamp(Raw(f), T0 + 20 + i) for i, f in enumerate(frames)]
    write("sll2.pcap", pkts, LINKTYPE_LINUX_SLL2)
    return pkts


def raw_ip():
    """2 DNS events: an IPv4 query, an IPv6 response."""
    pkts = [
        stamp(udp4(40030, 53, query(5, "raw.example")), T0 + 30),
        stamp(udp6(53, 40031, response(6, "raw6.example", "AAAA",
                                       "2001:db8::1"), src=S6, dst=C6),
              T0 + Decimal("30.5")),
    ]
    write("raw.pcap", pkts, LINKTYPE_RAW)
    return pkts


def loop_frame(fmt, family, pkt):
    return Raw(struct.pack(fmt, family) + bytes(pkt))


def null_loop():
    """null.pcap: 5 DNS events, 1 skipped (unknown family).
    loop.pcap: 2 DNS events."""
    v4q = udp4(40040, 53, query(7, "null.example"))
    v4r = udp4(53, 40040, response(7, "null.example"), src=S4, dst=C4)
    null = [
        loop_frame("<I", 2, v4q),
        loop_frame(">I", 2, v4r),
        loop_frame("<I", 24, udp6(40041, 53, query(8, "n24.example"))),
        loop_frame(">I", 30, udp6(40042, 53, query(9, "n30.example"))),
        loop_frame("<I", 28, udp6(53, 40041, response(8, "n24.example"),
                                  src=S6, dst=C6)),
        loop_frame("<I", 17, v4q),
    ]
    loop = [
        loop_frame(">I", 2, udp4(40043, 53, query(10, "loop.example"))),
        loop_frame(">I", 24, udp6(40044, 53, query(11, "loop6.example"))),
    ]
    for i, p in enumerate(null + loop):
        stamp(p, T0 + 40 + i)
    write("null.pcap", null, LINKTYPE_NULL)
    write("loop.pcap", loop, LINKTYPE_LOOP)
    return null + loop


def ipv6_ext():
    """3 DNS events, 1 skipped (a real fragment)."""
    q = query(11, "ext6.example", "AAAA")
    r = response(11, "ext6.example", "AAAA", "2001:db8::1")
    pkts = [
        eth(IPv6(src=C6, dst=S6) / IPv6ExtHdrHopByHop() /
            IPv6ExtHdrDestOpt() / UDP(sport=40050, dport=53) / q),
        eth(IPv6(src=S6, dst=C6) / IPv6ExtHdrRouting() /
            UDP(sport=53, dport=40050) / r),
        eth(IPv6(src=C6, dst=S6) / IPv6ExtHdrFragment(offset=0, m=0, id=7) /
            UDP(sport=40051, dport=53) / query(12, "atomic.example")),
        eth(IPv6(src=C6, dst=S6) / IPv6ExtHdrFragment(offset=0, m=1, id=8) /
            UDP(sport=40052, dport=53) / query(13, "frag6.example")),
    ]
    for i, p in enumerate(pkts):
        stamp(p, T0 + 50 + i)
    write("ipv6_ext.pcap", pkts, LINKTYPE_EN10MB)
    return pkts


def framed(dns):
    b = bytes(dns)
    return struct.pack(">H", len(b)) + b


class Conn:
    """Builds the segments of one TCP connection with real sequence
    numbers.  Each call returns the segment and advances that side."""

    def __init__(self, cli, srv, cport, sport, isn_c, isn_s, v6=False):
        self.ends = [(cli, cport), (srv, sport)]
        self.seq = [isn_c, isn_s]
        self.v6 = v6

    def seg(self, side, flags, data=b"", seq=None):
        (src, sp), (dst, dp) = self.ends[side], self.ends[1 - side]
        ip = IPv6(src=src, dst=dst) if self.v6 else IP(src=src, dst=dst)
        s = self.seq[side] if seq is None else seq
        ack = self.seq[1 - side] if "A" in flags else 0
        pkt = eth(ip / TCP(sport=sp, dport=dp, flags=flags, seq=s, ack=ack,
                           window=65535) / Raw(data))
        if seq is None:
            self.seq[side] += len(data) + (1 if set(flags) & set("SF")
                                           else 0)
        return pkt

    def handshake(self):
        return [self.seg(0, "S"), self.seg(1, "SA"), self.seg(0, "A")]

    def close(self):
        return [self.seg(0, "FA"), self.seg(1, "FA"), self.seg(0, "A")]


def tcp_split():
    """4 DNS events (2 queries, 2 responses) over TCP/53 and 3 flow events:
    a DoT SYN, a DoH-candidate SYN, a DoT connection seen mid-stream."""
    c = Conn(C4, S4, 40100, 53, 1000, 5000)
    q1 = framed(query(20, "tcp1.example"))
    q2 = framed(query(21, "tcp2.example"))
    r12 = framed(response(20, "tcp1.example")) + \
        framed(response(21, "tcp2.example", rdata="192.0.2.2"))
    pkts = c.handshake()
    pkts.append(c.seg(0, "PA", q1[:1]))           # half the length prefix
    pkts.append(c.seg(0, "PA", q1[1:12]))         # rest of it, some body
    retrans_seq = c.seq[0]
    pkts.append(c.seg(0, "PA", q1[12:] + q2))     # end of q1 and all of q2
    pkts.append(c.seg(0, "PA", q1[12:] + q2, seq=retrans_seq))  # again
    pkts.append(c.seg(1, "PA", r12))              # two messages at once
    pkts += c.close()

    dot = Conn(C4, S4, 40200, 853, 7000, 9000)
    pkts += dot.handshake()
    pkts.append(dot.seg(0, "PA", b"\x16\x03\x01\x00\x05hello"))
    pkts += dot.close()
    doh = Conn(C4, "203.0.113.5", 40300, 443, 11000, 12000)
    pkts.append(doh.seg(0, "S"))
    mid = Conn(C4, "192.0.2.99", 40400, 853, 13000, 14000)
    pkts.append(mid.seg(0, "PA", b"\x17\x03\x03\x00\x04data"))
    for i, p in enumerate(pkts):
        stamp(p, T0 + 60 + Decimal(i) / 1000)
    write("tcp_split.pcap", pkts, LINKTYPE_EN10MB)
    return pkts


def tcp_ooo6():
    """IPv6 TCP/53: the halves of the first response arrive swapped, so
    it is lost (1 out of order); 3 DNS events (2 queries, 1 response)."""
    c = Conn(C6, S6, 40500, 53, 100, 200, v6=True)
    r3 = framed(response(22, "ooo1.example", "AAAA", "2001:db8::3"))
    pkts = c.handshake()
    pkts.append(c.seg(0, "PA", framed(query(22, "ooo1.example", "AAAA"))))
    first = c.seg(1, "PA", r3[:20])
    second = c.seg(1, "PA", r3[20:])
    pkts += [second, first]
    pkts.append(c.seg(0, "PA", framed(query(23, "ooo2.example", "AAAA"))))
    pkts.append(c.seg(1, "PA", framed(response(23, "ooo2.example", "AAAA",
                                               "2001:db8::4"))))
    pkts += c.close()
    for i, p in enumerate(pkts):
        stamp(p, T0 + 70 + Decimal(i) / 1000)
    write("tcp_ooo6.pcap", pkts, LINKTYPE_EN10MB)
    return pkts


def anomport():
    """2 DNS events on UDP port 5300, 2 skipped (UDP not DNS, TCP port
    not inspected)."""
    pkts = [
        eth(udp4(40600, 5300, query(30, "odd-port.example"))),
        eth(udp4(5300, 40600, response(30, "odd-port.example"),
                 src=S4, dst=C4)),
        eth(udp4(40601, 9999, Raw(b"not dns at all, not at all"))),
        eth(IP(src=C4, dst=S4) / TCP(sport=40602, dport=8080, flags="PA") /
            Raw(b"GET / HTTP/1.0\r\n\r\n")),
    ]
    for i, p in enumerate(pkts):
        stamp(p, T0 + 80 + i)
    write("anomport.pcap", pkts, LINKTYPE_EN10MB)
    return pkts


def pcapng():
    """3 DNS events in pcapng."""
    pkts = [
        eth(udp4(40700, 53, query(40, "pcapng.example"))),
        eth(udp4(53, 40700, response(40, "pcapng.example"), src=S4,
                 dst=C4)),
        eth(udp6(40701, 53, query(41, "pcapng6.example", "AAAA"))),
    ]
    for i, p in enumerate(pkts):
        stamp(p, T0 + 90 + i)
    w = PcapNgWriter(os.path.join(OUT, "mixed.pcapng"))
    for p in pkts:
        w.write(p)
    w.close()
    return pkts


def netpkt_corpus(groups):
    """One file per distinct frame: the fuzz target decodes each as every
    link type."""
    seen = set()
    for name, pkts in groups:
        for i, p in enumerate(pkts):
            b = bytes(p)
            if b in seen:
                continue
            seen.add(b)
            with open(os.path.join(NETPKT_CORPUS, f"{name}_{i}"), "wb") as f:
                f.write(b)


def tcp_record(flags, back, watch, seq, step, port, data):
    """One record of fuzz_tcpreasm's input; see fuzz/fuzz_tcpreasm.c."""
    bits = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}
    b0 = sum(bits[c] for c in flags) | (0x40 if back else 0) | \
        (0x80 if watch else 0)
    return struct.pack(">BHBB", b0, seq & 0xffff, (port << 4) | step,
                       len(data)) + data


def tcpreasm_corpus():
    q = framed(query(1, "fuzz.example"))
    r = framed(response(1, "fuzz.example"))
    seeds = {
        "inorder": [("S", 0, 0, 0), ("SA", 1, 0, 0), ("PA", 0, 1, q),
                    ("PA", 1, 1, r), ("FA", 0, 1 + len(q), b""),
                    ("FA", 1, 1 + len(r), b"")],
        "split_prefix": [("S", 0, 0, 0), ("PA", 0, 1, q[:1]),
                         ("PA", 0, 2, q[1:9]), ("PA", 0, 10, q[9:] + q)],
        "retransmit": [("S", 0, 0, 0), ("PA", 0, 1, q), ("PA", 0, 1, q),
                       ("PA", 0, 1 + len(q), q)],
        "ooo": [("S", 0, 0, 0), ("PA", 0, 11, q[10:]), ("PA", 0, 1, q[:10]),
                ("PA", 0, 1 + len(q), q)],
        "midstream": [("PA", 1, 500, r), ("PA", 1, 500 + len(r), r[:5]),
                      ("R", 1, 0, b"")],
    }
    for name, segs in seeds.items():
        out = b""
        for flags, back, seq, data in segs:
            data = data if isinstance(data, bytes) else b""
            out += tcp_record(flags, back, 0, seq, 1, 0, data)
        with open(os.path.join(TCPREASM_CORPUS, name), "wb") as f:
            f.write(out)
    many = b"".join(tcp_record("S", 0, i % 2, 0, 2, i, b"")
                    for i in range(16))
    with open(os.path.join(TCPREASM_CORPUS, "evict_watch"), "wb") as f:
        f.write(many)


def main():
    for d in (OUT, NETPKT_CORPUS, TCPREASM_CORPUS):
        os.makedirs(d, exist_ok=True)
    groups = [
        ("eth", eth_vlan()), ("sll", sll()), ("sll2", sll2()),
        ("raw", raw_ip()), ("loop", null_loop()), ("v6", ipv6_ext()),
        ("tcp", tcp_split()), ("ooo", tcp_ooo6()), ("port", anomport()),
        ("ng", pcapng()),
    ]
    netpkt_corpus(groups)
    tcpreasm_corpus()


if __name__ == "__main__":
    main()
