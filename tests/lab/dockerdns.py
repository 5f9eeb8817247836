#!/usr/bin/env python3
"""A stand-in for Docker's embedded DNS (python3 stdlib only).

  dockerdns.py ADDR UPSTREAM

Binds UDP and TCP on ADDR at ports the kernel picks (Docker's are random
too), prints "ports UDP TCP" and then "ready", and forwards every query it
gets, over UDP, to UPSTREAM port 53 from a fresh socket, the way Docker's
resolver forwards to its ExtServers from inside the container's namespace.
Each forwarded query's name is printed as "FWD name".
"""
import socket
import struct
import sys
import threading


def qname(q):
    labels, i = [], 12
    while i < len(q) and q[i] != 0 and len(labels) < 64:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += q[i] + 1
    return ".".join(labels)


def forward(q, upstream):
    print("FWD %s" % qname(q), flush=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.connect((upstream, 53))
        s.send(q)
        return s.recv(65535)
    except OSError:
        return None
    finally:
        s.close()


def udp_one(srv, q, peer, upstream):
    a = forward(q, upstream)
    if a:
        srv.sendto(a, peer)


def udp_loop(srv, upstream):
    while True:
        q, peer = srv.recvfrom(65535)
        if len(q) >= 12:
            threading.Thread(target=udp_one, args=(srv, q, peer, upstream), daemon=True).start()


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d:
            return None
        b += d
    return b


def tcp_one(c, upstream):
    try:
        c.settimeout(5)
        while True:
            h = recv_exact(c, 2)
            if h is None:
                return
            q = recv_exact(c, struct.unpack("!H", h)[0])
            if q is None or len(q) < 12:
                return
            a = forward(q, upstream)
            if not a:
                return
            c.sendall(struct.pack("!H", len(a)) + a)
    except OSError:
        pass
    finally:
        c.close()


def tcp_loop(srv, upstream):
    while True:
        c, _ = srv.accept()
        threading.Thread(target=tcp_one, args=(c, upstream), daemon=True).start()


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    addr, upstream = argv
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, 0))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 0))
    t.listen(64)
    print("ports %d %d" % (u.getsockname()[1], t.getsockname()[1]), flush=True)
    threading.Thread(target=udp_loop, args=(u, upstream), daemon=True).start()
    threading.Thread(target=tcp_loop, args=(t, upstream), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
