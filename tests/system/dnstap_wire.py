"""Build dnstap frames and DNS messages by hand, good and bad, and send
them over a Frame Streams connection.

Debian 12's python3 has no protobuf module by default, and a test that
sends malformed frames needs byte-level control anyway, so the few
protobuf fields dnstap uses are encoded here (varint, fixed32 and
length-delimited only).  test_dnstap_wire_reference checks this encoder
against the Go dnstap decoder, so it is not trusted on its own word.

Frame Streams (the fstrm "Frame Streams" protocol): every frame is a
32-bit big-endian length and that many bytes.  A length of 0 is an
escape: a control frame follows (32-bit length, 32-bit type, fields).
A bidirectional sender writes READY (with the content type), reads
ACCEPT, writes START, data frames, STOP, and reads FINISH.
"""

import socket
import struct
import time

CONTENT_TYPE = b"protobuf:dnstap.Dnstap"

FSTRM_ACCEPT = 0x01
FSTRM_START = 0x02
FSTRM_STOP = 0x03
FSTRM_READY = 0x04
FSTRM_FINISH = 0x05
FSTRM_FIELD_CONTENT_TYPE = 0x01

# dnstap Message.Type values.
MSG_TYPES = {
    "AUTH_QUERY": 1, "AUTH_RESPONSE": 2, "RESOLVER_QUERY": 3,
    "RESOLVER_RESPONSE": 4, "CLIENT_QUERY": 5, "CLIENT_RESPONSE": 6,
    "FORWARDER_QUERY": 7, "FORWARDER_RESPONSE": 8, "STUB_QUERY": 9,
    "STUB_RESPONSE": 10, "TOOL_QUERY": 11, "TOOL_RESPONSE": 12,
    "UPDATE_QUERY": 13, "UPDATE_RESPONSE": 14,
}
PROTOCOLS = {"udp": 1, "tcp": 2, "dot": 3, "doh": 4}


# ------------------------------------------------------------ protobuf

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3 | 0) + varint(value)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_fixed32(num, value):
    return varint(num << 3 | 5) + struct.pack("<I", value)


def dnstap_message(mtype, client, client_port, server, server_port,
                   message, transport="udp", when=None, identity=b"pytest"):
    """One serialized Dnstap protobuf carrying one Message.  client and
    server are address texts; message is the DNS wire bytes (query or
    response by mtype)."""
    family = 2 if ":" in client else 1
    af = socket.AF_INET6 if family == 2 else socket.AF_INET
    when = time.time() if when is None else when
    sec, nsec = int(when), int((when - int(when)) * 1e9)
    is_resp = mtype.endswith("RESPONSE")
    m = field_varint(1, MSG_TYPES[mtype])
    m += field_varint(2, family)
    m += field_varint(3, PROTOCOLS[transport])
    m += field_bytes(4, socket.inet_pton(af, client))
    m += field_bytes(5, socket.inet_pton(af, server))
    m += field_varint(6, client_port)
    m += field_varint(7, server_port)
    if is_resp:
        m += field_varint(12, sec) + field_fixed32(13, nsec)
        m += field_bytes(14, message)
    else:
        m += field_varint(8, sec) + field_fixed32(9, nsec)
        m += field_bytes(10, message)
    return field_bytes(1, identity) + field_bytes(14, m) + \
        field_varint(15, 1)


def exchange(mid, name, client, client_port, server="127.0.0.53",
             when=None, qtype=1, answer_after=0.001):
    """A client's query for name and its answer (an address), as two
    serialized Dnstap messages; the answer answer_after seconds later."""
    when = time.time() if when is None else when
    return (dnstap_message("CLIENT_QUERY", client, client_port, server, 53,
                           dns_query(mid, name, qtype), "udp", when),
            dnstap_message("CLIENT_RESPONSE", client, client_port, server,
                           53, dns_response(mid, name, qtype), "udp",
                           when + answer_after))


# ------------------------------------------------------- DNS messages

def dns_name(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def dns_header(mid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack(">6H", mid, flags, qd, an, ns, ar)


def dns_query(mid, qname, qtype=1):
    """A plain RD query."""
    return dns_header(mid, 0x0100) + dns_name(qname) + \
        struct.pack(">HH", qtype, 1)


def dns_response(mid, qname, qtype=1, rcode=0, address="192.0.2.1"):
    """A response with one A answer (NOERROR) or none (other rcodes)."""
    ans = b""
    an = 0
    if rcode == 0 and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + \
            socket.inet_aton(address)
        an = 1
    return dns_header(mid, 0x8180 | rcode, an=an) + dns_name(qname) + \
        struct.pack(">HH", qtype, 1) + ans


def bad_short_header():
    """Fewer than 12 bytes."""
    return b"\x12\x34\x01\x00\x00\x01"


def bad_compression_loop(mid=0x4242):
    """The question name is a pointer to itself."""
    return dns_header(mid, 0x0100) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)


def bad_forward_pointer(mid=0x4243):
    """abc -> (forward) def -> (back) abc -> ...: a two-pointer loop."""
    return dns_header(mid, 0x0100) + b"\x03abc\xc0\x16" + \
        struct.pack(">HH", 1, 1) + b"\x03def\xc0\x0c"


def bad_label_overflow(mid=0x4244):
    """A 64-byte label (the limit is 63)."""
    return dns_header(mid, 0x0100) + b"\x40" + b"a" * 64 + b"\x00" + \
        struct.pack(">HH", 1, 1)


def bad_name_overflow(mid=0x4245):
    """A name of 5 x 63-byte labels, longer than 255 bytes."""
    return dns_header(mid, 0x0100) + (b"\x3f" + b"b" * 63) * 5 + \
        b"\x00" + struct.pack(">HH", 1, 1)


def bad_counts(mid=0x4246):
    """A response claiming 50 answers with none present."""
    return dns_header(mid, 0x8180, an=50) + dns_name("counts.example") + \
        struct.pack(">HH", 1, 1)


def bad_truncated_question(mid=0x4247):
    """The question stops in the middle of its type field."""
    return dns_header(mid, 0x0100) + dns_name("cut.example") + b"\x00"


# ------------------------------------------------------- Frame Streams

def control(ctype, content_type=None):
    body = struct.pack(">I", ctype)
    if content_type is not None:
        body += struct.pack(">II", FSTRM_FIELD_CONTENT_TYPE,
                            len(content_type)) + content_type
    return struct.pack(">II", 0, len(body)) + body


def data_frame(payload):
    return struct.pack(">I", len(payload)) + payload


def read_control(sock, timeout=5.0):
    """Read one control frame; returns its type."""
    sock.settimeout(timeout)
    head = _read_exact(sock, 8)
    escape, length = struct.unpack(">II", head)
    if escape != 0:
        raise ValueError("expected a control frame, got data")
    body = _read_exact(sock, length)
    return struct.unpack(">I", body[:4])[0]


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


class Sender:
    """A bidirectional Frame Streams sender on a unix or TCP socket."""

    def __init__(self, address):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.connect(address)

    def handshake(self, content_type=CONTENT_TYPE):
        """READY, expect ACCEPT, START."""
        self.sock.sendall(control(FSTRM_READY, content_type))
        got = read_control(self.sock)
        if got != FSTRM_ACCEPT:
            raise ValueError("expected ACCEPT, got %d" % got)
        self.sock.sendall(control(FSTRM_START, content_type))
        return self

    def send(self, payload):
        self.sock.sendall(data_frame(payload))

    def send_raw(self, data):
        self.sock.sendall(data)

    def finish(self):
        """STOP, expect FINISH, close.  Returns True when FINISH came."""
        self.sock.sendall(control(FSTRM_STOP))
        try:
            ok = read_control(self.sock) == FSTRM_FINISH
        except (OSError, ValueError):
            ok = False
        self.sock.close()
        return ok

    def close(self):
        self.sock.close()


def write_file(path, payloads):
    """A Frame Streams file (START, data frames, STOP), the format
    fstrm_capture writes and `dnstap -r` reads."""
    with open(path, "wb") as f:
        f.write(control(FSTRM_START, CONTENT_TYPE))
        for p in payloads:
            f.write(data_frame(p))
        f.write(control(FSTRM_STOP))
