"""Reference decoders, and the comparison of the daemon's events with them.

The system tests never trust a decoder of their own for what the daemon
should have seen: every expectation comes from another project's tool.

- dnstap files: the Go `dnstap` CLI (`dnstap -r FILE -j`, one JSON object
  per message) and BIND's `dnstap-read -y` (YAML with the parsed header
  and question).  Both are reduced to the same Msg record, so the two
  references can also be checked against each other.
- pcap files: `tshark -T fields`, one row per DNS message.

A Msg is one DNS message as a decoder saw it.  The daemon matches queries
with responses into transactions, so its events are not one per message;
`query_keys` and `response_keys` turn both sides into multisets of
per-message keys that can be compared whatever the pairing was:
every event with has_query stands for one query message, every event
with has_response for one response message.
"""

import collections
import ipaddress
import itertools
import json
import re
import subprocess

import yaml

from servers import which

# dnstap Message.Type name -> the daemon's role and side.
ROLES = {
    "AUTH": "auth", "RESOLVER": "resolver", "CLIENT": "client",
    "FORWARDER": "forwarder", "STUB": "stub", "TOOL": "tool",
    "UPDATE": "update",
}

Msg = collections.namedtuple("Msg", [
    "role",       # "client", "resolver", ... or "wire" for pcap
    "side",       # "query" or "response"
    "transport",  # "udp", "tcp", "dot", "doh"
    "client", "client_port",  # the querying side
    "server", "server_port",  # the answering side
    "id",         # DNS message ID, or None if the decoder hides it
    "qname",      # lowercase, no trailing dot ("." for the root)
    "qtype",      # mnemonic, e.g. "A", "TYPE65534"
    "rcode",      # for responses, e.g. "NOERROR"; None for queries
])


def norm_addr(text):
    """Canonical text of an address ("" when unknown)."""
    if not text:
        return ""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


ESCAPE_RE = re.compile(r"\\(\d{3}|.)")


def unescape(name):
    """Presentation-form escapes (\\DDD and \\X) to the bytes they
    stand for, so that decoders that escape different characters (the
    daemon escapes all but [a-z0-9-_], miekg/dns only specials) compare
    equal."""
    return ESCAPE_RE.sub(lambda m: chr(int(m.group(1))) if
                         m.group(1).isdigit() else m.group(1), name)


def norm_name(name):
    """Lowercase, unescaped, no trailing dot, "." for the root."""
    name = unescape(name.strip()).lower()
    if name in ("", ".", "<root>"):  # tshark writes the root as <Root>
        return "."
    return name[:-1] if name.endswith(".") else name


def _split_type(mtype):
    kind, _, side = mtype.rpartition("_")
    return ROLES[kind], side.lower()


# ------------------------------------------------------ Go dnstap (-j)

HEADER_RE = re.compile(r"status: (\S+), id: (\d+)")
QUESTION_RE = re.compile(r"^;(\S+)\s+(\S+)\s+(\S+)\s*$")


def _miekg_header(text):
    """(rcode, id, qname, qtype) from miekg/dns text of a message."""
    rcode, mid = None, None
    m = HEADER_RE.search(text)
    if m:
        rcode, mid = m.group(1), int(m.group(2))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(";; QUESTION SECTION:"):
            q = QUESTION_RE.match(lines[i + 1])
            return rcode, mid, norm_name(q.group(1)), q.group(3)
    return rcode, mid, None, None


def go_dnstap_messages(path):
    """Every message of a dnstap file, decoded by the Go dnstap CLI."""
    out = subprocess.run([which("dnstap"), "-r", path, "-j"],
                         capture_output=True, text=True, check=True).stdout
    msgs = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        msgs.append(_go_msg(json.loads(line)["message"]))
    return msgs


def _go_msg(m):
    role, side = _split_type(m["type"])
    text = m.get(side + "_message", "")
    rcode, mid, qname, qtype = _miekg_header(text)
    return Msg(role, side, m.get("socket_protocol", "").lower(),
               norm_addr(m.get("query_address")), m.get("query_port", 0),
               norm_addr(m.get("response_address")),
               m.get("response_port", 0),
               mid, qname, qtype, rcode if side == "response" else None)


# ------------------------------------------------- BIND dnstap-read -y

class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A safe loader that leaves timestamps as text (dnstap-read writes
    only whole seconds; nothing here compares times)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp",
                        lambda loader, node: loader.construct_scalar(node))

BIND_TYPES = {"AQ": "AUTH_QUERY", "AR": "AUTH_RESPONSE",
              "RQ": "RESOLVER_QUERY", "RR": "RESOLVER_RESPONSE",
              "CQ": "CLIENT_QUERY", "CR": "CLIENT_RESPONSE",
              "FQ": "FORWARDER_QUERY", "FR": "FORWARDER_RESPONSE",
              "SQ": "STUB_QUERY", "SR": "STUB_RESPONSE",
              "TQ": "TOOL_QUERY", "TR": "TOOL_RESPONSE",
              "UQ": "UPDATE_QUERY", "UR": "UPDATE_RESPONSE"}


def bind_dnstap_messages(path):
    """Every message of a dnstap file, decoded by BIND's dnstap-read."""
    out = subprocess.run([which("dnstap-read"), "-y", path],
                         capture_output=True, text=True, check=True).stdout
    msgs = []
    for doc in yaml.load_all(out, Loader=_Loader):
        if doc and doc.get("type") == "MESSAGE":
            msgs.append(_bind_msg(doc["message"]))
    return msgs


def _bind_msg(m):
    role, side = _split_type(m["type"])
    data = m.get(side + "_message_data") or {}
    question = (data.get("QUESTION_SECTION") or ["? IN ?"])[0].split()
    return Msg(role, side, str(m.get("socket_protocol", "")).lower(),
               norm_addr(m.get("query_address")), m.get("query_port", 0),
               norm_addr(m.get("response_address")),
               m.get("response_port", 0),
               data.get("id"), norm_name(question[0]), question[-1],
               data.get("status") if side == "response" else None)


# ------------------------------------------------------------- tshark

TSHARK_FIELDS = ["frame.number", "ip.src", "ipv6.src", "ip.dst",
                 "ipv6.dst", "udp.srcport", "udp.dstport", "tcp.srcport",
                 "tcp.dstport", "dns.id", "dns.flags.response",
                 "dns.qry.name", "dns.qry.type", "dns.flags.rcode"]

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET",
          8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}


def tshark_messages(path, dns_ports=(53,), qtype_names=None):
    """Every DNS message of a pcap file, decoded by tshark.  Ports in
    dns_ports other than 53 are decoded as DNS too (5353 would otherwise
    be mDNS).  A TCP segment carrying several messages gives one row per
    message: tshark lists the repeated fields comma-separated."""
    argv = [which("tshark"), "-r", path, "-n", "-T", "fields",
            "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=|", "-Y", "dns"]
    for p in dns_ports:
        if p != 53:
            argv += ["-d", "udp.port==%d,dns" % p,
                     "-d", "tcp.port==%d,dns" % p]
    for f in TSHARK_FIELDS:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True,
                         check=True).stdout
    msgs = []
    for line in out.splitlines():
        msgs.extend(_tshark_rows(line.split("\t"), qtype_names or {}))
    return msgs


def _tshark_rows(cols, qtype_names):
    row = dict(zip(TSHARK_FIELDS, cols + [""] * len(TSHARK_FIELDS)))
    src = row["ip.src"] or row["ipv6.src"]
    dst = row["ip.dst"] or row["ipv6.dst"]
    tcp = bool(row["tcp.srcport"])
    sport = int(row["tcp.srcport"] or row["udp.srcport"])
    dport = int(row["tcp.dstport"] or row["udp.dstport"])
    fields = [row[k].split("|") for k in
              ("dns.id", "dns.flags.response", "dns.qry.name",
               "dns.qry.type", "dns.flags.rcode")]
    rows = []
    # A query has no rcode field, so its list is shorter: pad it.
    for mid, resp, qname, qtype, rcode in itertools.zip_longest(
            *fields, fillvalue="0"):
        is_resp = resp in ("1", "True")
        client, cport, server, sport_ = ((dst, dport, src, sport)
                                         if is_resp else
                                         (src, sport, dst, dport))
        t = int(qtype)
        rows.append(Msg("wire", "response" if is_resp else "query",
                        "tcp" if tcp else "udp",
                        norm_addr(client), cport, norm_addr(server),
                        sport_, int(mid, 16) if mid.startswith("0x")
                        else int(mid), norm_name(qname),
                        qtype_names.get(t, "TYPE%d" % t),
                        RCODES.get(int(rcode), "RCODE" + rcode)
                        if is_resp else None))
    return rows


# ----------------------------------------------------------- comparison

def _key(role, transport, client, cport, server, sport, mid, qname, qtype):
    return (role, transport, norm_addr(client), int(cport or 0),
            norm_addr(server), int(sport or 0), mid, qname, qtype)


def query_keys(msgs):
    """Multiset of per-query keys from reference Msgs."""
    return collections.Counter(
        _key(m.role, m.transport, m.client, m.client_port, m.server,
             m.server_port, m.id, m.qname, m.qtype)
        for m in msgs if m.side == "query")


def response_keys(msgs):
    """Multiset of per-response keys (with rcode) from reference Msgs."""
    return collections.Counter(
        _key(m.role, m.transport, m.client, m.client_port, m.server,
             m.server_port, m.id, m.qname, m.qtype) + (m.rcode,)
        for m in msgs if m.side == "response")


def _event_key(e):
    return _key(e["role"], e["transport"], e["client"], e["client_port"],
                e["server"], e["server_port"], e["id"],
                norm_name(e["qname"] or ""), e["qtype"])


def event_query_keys(events):
    """Multiset of per-query keys from the daemon's --events-out."""
    return collections.Counter(_event_key(e) for e in events
                               if e.get("kind") == "dns" and
                               e.get("has_query"))


def event_response_keys(events):
    """Multiset of per-response keys from the daemon's --events-out."""
    return collections.Counter(_event_key(e) + (e["rcode"],)
                               for e in events
                               if e.get("kind") == "dns" and
                               e.get("has_response"))


def diff(expected, got, limit=8):
    """A short readable difference of two multisets ('' when equal)."""
    missing = expected - got
    extra = got - expected
    if not missing and not extra:
        return ""
    lines = ["%d expected keys missing, %d unexpected"
             % (sum(missing.values()), sum(extra.values()))]
    for k, n in list(missing.items())[:limit]:
        lines.append("  missing x%d: %r" % (n, k))
    for k, n in list(extra.items())[:limit]:
        lines.append("  extra   x%d: %r" % (n, k))
    return "\n".join(lines)


def count_sides(msgs):
    """{'query': n, 'response': n} over a list of Msgs."""
    c = collections.Counter(m.side for m in msgs)
    return {"query": c["query"], "response": c["response"]}


def count_types(msgs):
    """Counter of (role, side) over a list of Msgs."""
    return collections.Counter((m.role, m.side) for m in msgs)
