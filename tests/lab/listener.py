#!/usr/bin/env python3
"""Lab listeners (python3 stdlib only).

  listener.py serve [--tcp PORT ...] [--udp PORT ...]
      TCP: on every address of the namespace (v4 and v6 wildcard; the lab
      routes whole documentation ranges to lo), send "ok\\n", then echo every
      byte back until the client closes.
      UDP: echo every datagram back, from the address it was sent to
      (IP_PKTINFO), so a connected client socket accepts the reply.

  listener.py fakedns ADDR PORT
      A DNS-ish UDP responder: answers every query with NOERROR and
      A 198.51.100.1 (stands in for Docker's embedded DNS behind its DNAT).

Prints "ready" on stdout once every socket is bound.
"""
import socket
import struct
import sys
import threading

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
IPV6_FREEBIND = 78


def tcp_conn(c):
    try:
        c.sendall(b"ok\n")
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    finally:
        c.close()


def tcp_accept(s):
    while True:
        try:
            c, _ = s.accept()
        except OSError:
            continue
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


def udp_echo(s, fam):
    while True:
        try:
            data, anc, _flags, peer = s.recvmsg(65536, 256)
        except OSError:
            continue
        out = []
        for level, typ, val in anc:
            if fam == socket.AF_INET and level == socket.IPPROTO_IP and typ == IP_PKTINFO:
                # struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
                _ifi, _spec, addr = struct.unpack("i4s4s", val[:12])
                out = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, addr, b"\0" * 4))]
            elif fam == socket.AF_INET6 and level == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO:
                addr, _ifi = struct.unpack("16si", val[:20])
                out = [(socket.IPPROTO_IPV6, IPV6_PKTINFO, struct.pack("16si", addr, 0))]
        try:
            s.sendmsg([data], out, 0, peer)
        except OSError:
            pass


def serve(tcp_ports, udp_ports):
    threads = []
    for port in tcp_ports:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
            s.listen(128)
            threads.append(threading.Thread(target=tcp_accept, args=(s,), daemon=True))
    for port in udp_ports:
        for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
                # reply from any address of the local route (not assigned to a device)
                s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
            else:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            s.bind((addr, port))
            threads.append(threading.Thread(target=udp_echo, args=(s, fam), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    threading.Event().wait()


def fakedns(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    print("ready", flush=True)
    while True:
        try:
            q, peer = s.recvfrom(4096)
        except OSError:
            continue
        if len(q) < 12:
            continue
        # question section: walk the labels
        i = 12
        while i < len(q) and q[i] != 0:
            i += q[i] + 1
        qend = i + 5
        if qend > len(q):
            continue
        hdr = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
        ans = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("198.51.100.1")
        s.sendto(hdr + q[12:qend] + ans, peer)


def main(argv):
    if len(argv) >= 1 and argv[0] == "serve":
        tcp, udp, cur = [], [], None
        for a in argv[1:]:
            if a == "--tcp":
                cur = tcp
            elif a == "--udp":
                cur = udp
            else:
                cur.append(int(a))
        serve(tcp, udp)
    elif len(argv) == 3 and argv[0] == "fakedns":
        fakedns(argv[1], int(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
