#!/usr/bin/python3
"""Write the seed corpus of the dnswire fuzz target.

Valid messages come from dnspython (queries and compressed responses of
common types, EDNS options, extended rcodes); malformed ones are written
by hand, one per error kind.  Output is deterministic: message IDs are
fixed, so rerunning the script rewrites the same files.

Usage: scripts/gen_corpus_dnswire.py [outdir]
(default fuzz/corpus/dnswire next to this script's repository root)
"""

import os
import struct
import sys

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

CLIENT_SUBNET = dns.edns.ECSOption("192.0.2.0", 24)
COOKIE = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, bytes(range(8)))


def query(name, rdtype, edns=True, options=(), msg_id=0x1234):
    q = dns.message.make_query(name, rdtype, use_edns=0 if edns else False,
                               payload=1232, options=list(options))
    q.id = msg_id
    return q


def response(name, rdtype, answers=(), authority=(), rcode=0, edns=True,
             tc=False):
    q = query(name, rdtype, edns)
    r = dns.message.make_response(q, our_payload=1232)
    for owner, ttl, rtype, text in answers:
        r.answer.append(dns.rrset.from_text(owner, ttl, "IN", rtype, text))
    for owner, ttl, rtype, text in authority:
        r.authority.append(dns.rrset.from_text(owner, ttl, "IN", rtype,
                                               text))
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    return r


def valid_messages():
    soa = ("example.com.", 300, "SOA",
           "ns1.example.com. host.example.com. 1 7200 900 1209600 300")
    yield "q_a", query("www.example.com", "A")
    yield "q_aaaa_noedns", query("WWW.Example.COM", "AAAA", edns=False)
    yield "q_https_cookie", query("example.org", "HTTPS",
                                  options=[COOKIE])
    yield "q_txt_ecs", query("t.example.net", "TXT",
                             options=[CLIENT_SUBNET])
    yield "q_root_ns", query(".", "NS")
    yield "q_escapes", query(dns.name.Name([b"a.b", b"\\", b"*", b"\xff",
                                            b"Up-_9", b""]), "A")
    yield "q_long_labels", query(".".join(["a" * 63, "b" * 63, "c" * 63,
                                           "d" * 61]), "A")
    yield "r_cname_a", response("www.example.com", "A", [
        ("www.example.com.", 3600, "CNAME", "cdn.example.com."),
        ("cdn.example.com.", 60, "A", "93.184.216.34"),
        ("cdn.example.com.", 60, "A", "93.184.216.35"),
    ])
    yield "r_aaaa", response("v6.test", "AAAA", [
        ("v6.test.", 300, "AAAA", "2001:db8::1"),
        ("v6.test.", 300, "AAAA", "2001:db8::2"),
    ])
    yield "r_mx_many", response("example.com", "MX", [
        ("example.com.", 300, "MX", "%d mx%d.example.com." % (i, i))
        for i in range(6)
    ])
    yield "r_svcb", response("_dns.resolver.arpa", "SVCB", [
        ("_dns.resolver.arpa.", 3600, "SVCB",
         '1 dns.example.net. alpn="h2,h3" port=443'),
    ])
    yield "r_https", response("example.org", "HTTPS", [
        ("example.org.", 300, "HTTPS",
         '1 . alpn="h2,h3" ipv4hint=192.0.2.1 ipv6hint=2001:db8::1'),
    ])
    yield "r_nxdomain_soa", response("nope.example.com", "A", [], [soa],
                                     rcode=dns.rcode.NXDOMAIN)
    yield "r_badvers", response("x", "A", rcode=dns.rcode.BADVERS)
    yield "r_badcookie", response("x", "A", rcode=dns.rcode.BADCOOKIE)
    yield "r_tc", response("big.example", "TXT", tc=True)
    yield "r_txt_srv", response("_sip._tcp.example.com", "SRV", [
        ("_sip._tcp.example.com.", 60, "SRV", "10 5 5060 sip.example.com."),
        ("_sip._tcp.example.com.", 60, "TXT", '"v=1" "hello world"'),
        ("_sip._tcp.example.com.", 60, "CAA", '0 issue "ca.example"'),
    ])


def header(flags=0x0100, qd=1, an=0, ns=0, ar=0, msg_id=0xbeef):
    return struct.pack("!HHHHHH", msg_id, flags, qd, an, ns, ar)


def rr(owner, rtype, rclass=1, ttl=0, rdata=b""):
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) \
        + rdata


QTAIL = struct.pack("!HH", 1, 1)
OPT = rr(b"\x00", 41, 1232)


def malformed_messages():
    yield "bad_short_header", header()[:7]
    yield "bad_no_question", header(qd=0)
    yield "bad_counts", header(an=1000) + b"\x00" + QTAIL
    yield "bad_truncated_name", header() + b"\x07examp"
    yield "bad_truncated_rdata", header(0x8180, an=1) + b"\x00" + QTAIL \
        + rr(b"\xc0\x0c", 1, rdata=b"\x01\x02\x03\x04")[:-2]
    yield "bad_loop_self", header() + b"\xc0\x0c" + QTAIL
    yield "bad_loop_forward", header() + b"\xc0\x0e\x00" + QTAIL
    # Owner at 35 points to 31, which points to 33, which points to 31.
    yield "bad_loop_pair", header(0x8000, an=2) + b"\x01q\x00" + QTAIL \
        + rr(b"\xc0\x0c", 10, rdata=b"\xc0\x21\xc0\x1f") \
        + rr(b"\xc0\x1f", 1)
    yield "bad_label_64", header() + b"\x40" + b"a" * 64 + b"\x00" + QTAIL
    yield "bad_label_type", header() + b"\x80\x00\x00" + QTAIL
    yield "bad_name_256", header() + (b"\x3f" + b"a" * 63) * 3 \
        + b"\x3e" + b"d" * 62 + b"\x00" + QTAIL
    yield "bad_opt_answer", header(0x8180, an=1) + b"\x00" + QTAIL + OPT
    yield "bad_opt_twice", header(0x8180, ar=2) + b"\x00" + QTAIL \
        + OPT + OPT
    yield "bad_opt_owner", header(0x8180, ar=1) + b"\x00" + QTAIL \
        + rr(b"\x01o\x00", 41, 1232)
    yield "bad_opt_option", header(0x8180, ar=1) + b"\x00" + QTAIL \
        + rr(b"\x00", 41, 1232, rdata=b"\x00\x0a\x00\x08\x00\x00")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(root, "fuzz", "corpus", "dnswire")
    os.makedirs(outdir, exist_ok=True)
    count = 0
    for name, msg in valid_messages():
        write(outdir, name, msg.to_wire())
        count += 1
    for name, wire in malformed_messages():
        write(outdir, name, wire)
        count += 1
    print("wrote %d files to %s" % (count, outdir))


def write(outdir, name, wire):
    with open(os.path.join(outdir, name + ".bin"), "wb") as f:
        f.write(wire)


if __name__ == "__main__":
    main()
