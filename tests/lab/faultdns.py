#!/usr/bin/env python3
"""Fault-injecting DNS upstream for the lab (python3 stdlib only).

  faultdns.py ADDR MODEFILE REAL SPOOF

Listens on ADDR port 53 (UDP and TCP) in the internet namespace. Before every
query it reads MODEFILE (one line: a mode and maybe a number), so a test
switches faults by rewriting that file. REAL is the real recursive server
(unbound) that "ok" relays to; SPOOF is a second address of this namespace
that the "wrongsrc" answers come from.

Modes (UDP / TCP):
  ok          relay to REAL and back
  silent      never answer
  slow MS     relay, but only after MS milliseconds
  refused     REFUSED, the question echoed, nothing else
  servfail    SERVFAIL, likewise
  malformed   the right ID and QR, then records that run off the end
  truncated   UDP: TC=1 and no records; TCP: relay (the TC → TCP retry path)
  tcpbroken   UDP: TC=1; TCP: a length prefix of 0xffff, 3 bytes, close
  oversized   250 A records (203.0.113.1-250), far over any limit, TTL 300
  wrongid     the real answer with another ID
  wrongq      an answer, with the right ID, for blocked.lab.test A 192.0.2.99
  wrongsrc    the right ID and question, A 192.0.2.99, sent from SPOOF:53 and
              from ADDR:5353, never from ADDR:53
  spoofrace   wrongsrc first, then the real answer from ADDR:53
  synth N     names under flood.lab.test: AAAA gets N records of addresses
              of its own in 2001:db8:f0::/48 (from a hash of the name), A
              gets none; other names are relayed as in "ok"

Every query is logged on stdout as "Q <udp|tcp> <mode> <name> <type>", so
tests can count what reached the upstream. Prints "ready" once bound.
"""
import hashlib
import os
import socket
import struct
import sys
import threading
import time

SPOOF_IP = "192.0.2.99"
OVERSIZED_N = 250


def log(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


class Mode:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.value = ("ok", 0)
        self.lock = threading.Lock()

    def get(self):
        with self.lock:
            try:
                st = os.stat(self.path)
                if st.st_mtime_ns != self.mtime:
                    with open(self.path) as f:
                        w = f.read().split()
                    self.value = (w[0] if w else "ok", int(w[1]) if len(w) > 1 else 0)
                    self.mtime = st.st_mtime_ns
            except (OSError, ValueError):
                pass
            return self.value


def question(q):
    """(name, type, end offset of the question) of a query, or None."""
    if len(q) < 12 or struct.unpack("!H", q[4:6])[0] < 1:
        return None
    i, labels = 12, []
    while i < len(q):
        n = q[i]
        if n == 0:
            i += 1
            break
        if n > 63:
            return None
        labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += n + 1
    if i + 4 > len(q):
        return None
    return ".".join(labels).lower(), struct.unpack("!H", q[i:i + 2])[0], i + 4


def header(q, rcode, an=0, tc=False, qd=1):
    qid, flags = struct.unpack("!HH", q[:4])
    flags = 0x8000 | (flags & 0x0100) | 0x0080 | (0x0200 if tc else 0) | rcode
    return struct.pack("!HHHHHH", qid, flags, qd, an, 0, 0)


def a_record(ip, ttl=300):
    # owner: a pointer to the question name at offset 12
    return b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, ttl, 4) + socket.inet_aton(ip)


def aaaa_record(ip, ttl=300):
    return b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, ttl, 16) + socket.inet_pton(socket.AF_INET6, ip)


def synth_addrs(name, n):
    h = hashlib.sha1(name.lower().encode()).digest()
    return ["2001:db8:f0:%02x%02x:%02x%02x::%x" % (h[0], h[1], h[2], h[3], i + 1) for i in range(n)]


def encode_name(name):
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"


class Server:
    def __init__(self, addr, modefile, real, spoof):
        self.addr = addr
        self.mode = Mode(modefile)
        self.real = real
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.udp.bind((addr, 53))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((addr, 53))
        self.tcp.listen(64)
        self.spoof = []
        for a, p in ((spoof, 53), (addr, 5353)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((a, p))
            self.spoof.append(s)

    # -- answers

    def relay(self, q, tcp):
        """The real server's answer to q (same ID), or None."""
        try:
            # from 127.0.0.1: unbound refuses the lab's other source addresses
            if tcp:
                with socket.create_connection((self.real, 53), timeout=2, source_address=("127.0.0.1", 0)) as s:
                    s.sendall(struct.pack("!H", len(q)) + q)
                    n = struct.unpack("!H", recv_exact(s, 2))[0]
                    return recv_exact(s, n)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                s.bind(("127.0.0.1", 0))
                s.sendto(q, (self.real, 53))
                return s.recv(65535)
        except (OSError, ValueError):
            return None

    def forged(self, q, qend):
        return header(q, 0, an=1) + q[12:qend] + a_record(SPOOF_IP)

    def answers(self, q, tcp):
        """What to send back for q: a list of (delay s, bytes, socket or None)."""
        qi = question(q)
        mode, arg = self.mode.get()
        log("Q %s %s %s %s" % ("tcp" if tcp else "udp", mode, qi[0] if qi else "?", qi[1] if qi else "?"))
        if qi is None:
            return []
        _name, _qtype, qend = qi
        qpart = q[12:qend]
        if mode == "silent":
            return []
        if mode == "slow":
            r = self.relay(q, tcp)
            return [(arg / 1000.0, r, None)] if r else []
        if mode in ("refused", "servfail"):
            return [(0, header(q, 5 if mode == "refused" else 2) + qpart, None)]
        if mode == "malformed":
            # claims 5 answers, carries one and a half
            return [(0, header(q, 0, an=5) + qpart + a_record("192.0.2.98")[:-2], None)]
        if mode in ("truncated", "tcpbroken") and not tcp:
            return [(0, header(q, 0, tc=True) + qpart, None)]
        if mode == "tcpbroken" and tcp:
            return [(0, None, "broken")]
        if mode == "oversized":
            recs = b"".join(a_record("203.0.113.%d" % i) for i in range(1, OVERSIZED_N + 1))
            return [(0, header(q, 0, an=OVERSIZED_N) + qpart + recs, None)]
        if mode == "wrongid":
            r = self.relay(q, tcp)
            if not r:
                return []
            return [(0, struct.pack("!H", struct.unpack("!H", r[:2])[0] ^ 0x5555) + r[2:], None)]
        if mode == "wrongq":
            other = encode_name("blocked.lab.test") + struct.pack("!HH", 1, 1)
            return [(0, header(q, 0, an=1) + other + a_record(SPOOF_IP), None)]
        if mode == "synth" and _name.lower().rstrip(".").endswith(".flood.lab.test"):
            if _qtype != 28:
                return [(0, header(q, 0) + qpart, None)]
            recs = b"".join(aaaa_record(a) for a in synth_addrs(_name.rstrip("."), arg))
            return [(0, header(q, 0, an=arg) + qpart + recs, None)]
        if mode in ("wrongsrc", "spoofrace"):
            out = [(0, self.forged(q, qend), s) for s in self.spoof]
            if mode == "spoofrace":
                r = self.relay(q, tcp)
                if r:
                    out.append((0.05, r, None))
            return out
        r = self.relay(q, tcp)
        return [(0, r, None)] if r else []

    # -- transports

    def serve_udp(self):
        while True:
            try:
                q, peer = self.udp.recvfrom(65535)
            except OSError:
                continue
            threading.Thread(target=self.udp_one, args=(q, peer), daemon=True).start()

    def udp_one(self, q, peer):
        for delay, data, sock in self.answers(q, False):
            if delay:
                time.sleep(delay)
            try:
                (sock or self.udp).sendto(data, peer)
            except OSError:
                pass

    def serve_tcp(self):
        while True:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                continue
            threading.Thread(target=self.tcp_conn, args=(c,), daemon=True).start()

    def tcp_conn(self, c):
        c.settimeout(30)
        try:
            while True:
                n = struct.unpack("!H", recv_exact(c, 2))[0]
                q = recv_exact(c, n)
                for delay, data, how in self.answers(q, True):
                    if delay:
                        time.sleep(delay)
                    if how == "broken":
                        c.sendall(b"\xff\xff\x01\x02\x03")
                        return
                    if how is None:
                        c.sendall(struct.pack("!H", len(data)) + data)
        except (OSError, ValueError):
            pass
        finally:
            c.close()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise ValueError("closed")
        b += d
    return b


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    srv = Server(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
    threading.Thread(target=srv.serve_tcp, daemon=True).start()
    log("ready")
    srv.serve_udp()
    return 0


if __name__ == "__main__":
    sys.exit(main())
