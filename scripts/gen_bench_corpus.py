#!/usr/bin/python3
"""Make a large dnstap file from a real capture, for the benchmark.

Reads every frame of a recorded dnstap file (Frame Streams), then writes
it again and again until the output holds at least --events frames.  Each
round moves the times forward by the span of the capture, changes the DNS
message IDs and the client ports, so the copies stay distinct
transactions that still pair up (query and response change alike).

Usage: gen_bench_corpus.py INPUT.dnstap OUTPUT.dnstap [--events N]
"""
import argparse
import struct

CONTENT_TYPE = b"protobuf:dnstap.Dnstap"


def read_frames(path):
    """Data frames of a Frame Streams file, as bytes."""
    with open(path, "rb") as f:
        data = f.read()
    frames, off = [], 0
    while off + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, off)
        off += 4
        if n == 0:
            (clen,) = struct.unpack_from(">I", data, off)
            off += 4 + clen
            continue
        frames.append(data[off:off + n])
        off += n
    return frames


def varint(buf, off):
    shift = value = 0
    while True:
        b = buf[off]
        off += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, off


def put_varint(value):
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(buf):
    """(field number, wire type, value) for each field of a message."""
    off, out = 0, []
    while off < len(buf):
        key, off = varint(buf, off)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, off = varint(buf, off)
        elif wt == 2:
            n, off = varint(buf, off)
            val, off = buf[off:off + n], off + n
        elif wt == 5:
            val, off = buf[off:off + 4], off + 4
        elif wt == 1:
            val, off = buf[off:off + 8], off + 8
        else:
            raise ValueError("unsupported wire type %d" % wt)
        out.append((num, wt, val))
    return out


def encode(flds):
    out = bytearray()
    for num, wt, val in flds:
        out += put_varint(num << 3 | wt)
        if wt == 0:
            out += put_varint(val)
        elif wt == 2:
            out += put_varint(len(val)) + val
        else:
            out += val
    return bytes(out)


def times(frames):
    secs = []
    for fr in frames:
        for num, _, val in fields(fr):
            if num == 14:
                secs += [v for n, _, v in fields(val) if n in (8, 12)]
    return min(secs), max(secs)


def shift_message(msg, round_no, dsec):
    out = []
    for num, wt, val in fields(msg):
        if num in (8, 12):
            val += dsec
        elif num == 6:
            val = 1024 + (val + round_no * 7) % 64000
        elif num in (10, 14) and len(val) >= 2:
            (mid,) = struct.unpack_from(">H", val)
            val = struct.pack(">H", (mid + round_no) & 0xFFFF) + val[2:]
        out.append((num, wt, val))
    return encode(out)


def shift_frame(frame, round_no, dsec):
    out = []
    for num, wt, val in fields(frame):
        if num == 14:
            val = shift_message(val, round_no, dsec)
        out.append((num, wt, val))
    return encode(out)


def control(ctype, with_content):
    body = struct.pack(">I", ctype)
    if with_content:
        body += struct.pack(">II", 1, len(CONTENT_TYPE)) + CONTENT_TYPE
    return struct.pack(">II", 0, len(body)) + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--events", type=int, default=1_000_000)
    args = ap.parse_args()

    frames = read_frames(args.input)
    if not frames:
        raise SystemExit("no frames in %s" % args.input)
    first, last = times(frames)
    span = last - first + 10
    written = 0
    with open(args.output, "wb") as out:
        out.write(control(2, True))
        round_no = 0
        while written < args.events:
            for fr in frames:
                data = shift_frame(fr, round_no, round_no * span)
                out.write(struct.pack(">I", len(data)) + data)
                written += 1
            round_no += 1
        out.write(control(3, False))
    print("wrote %d frames (%d rounds of %d) to %s"
          % (written, round_no, len(frames), args.output))


if __name__ == "__main__":
    main()
