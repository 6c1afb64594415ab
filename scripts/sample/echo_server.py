#!/usr/bin/python3
"""The two TCP ends of the sample's DNS tunnel (scripts/record_sample.sh).

    echo_server.py PORT                  echo every connection on
                                         127.0.0.1:PORT until killed
    echo_server.py --client PORT NBYTES  send NBYTES of seeded random
                                         data to 127.0.0.1:PORT, read the
                                         echo back, exit 0 if it matches

dns2tcpd forwards its "echo" resource to the server; the client talks to
dns2tcpc's local port, so every byte crosses the tunnel twice.
"""

import random
import socket
import sys
import threading


def serve(port):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(4)
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def echo(conn):
    with conn:
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(data)


def client(port, nbytes):
    data = random.Random(7).randbytes(nbytes)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        for i in range(0, nbytes, 1024):
            s.sendall(data[i:i + 1024])
        got = b""
        while len(got) < nbytes:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    if got != data:
        sys.exit("tunnel echo: sent %d bytes, got %d back intact=%s"
                 % (nbytes, len(got), got == data[:len(got)]))


def main(argv):
    if len(argv) == 4 and argv[1] == "--client":
        client(int(argv[2]), int(argv[3]))
    elif len(argv) == 2:
        serve(int(argv[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
