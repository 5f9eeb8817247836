#!/usr/bin/env python3
"""Lab client helper (python3 stdlib only); runs in the sandbox namespace as
the unprivileged agent uid. Every mode prints JSON lines on stdout.

  client.py tcp HOST PORT [--timeout S] [--hold S]
      connect; {"outcome": connected|refused|timeout|unreachable|eperm|error,
      "errno": ..., "ms": connect time, "banner": got "ok\\n", "echo": ...}
      With --hold: print that line once connected, keep the connection open
      S seconds, then exchange data again and print a second line
      {"phase": "after-hold", "echo": bool, "error": ...}.
  client.py udp HOST PORT [--timeout S]
      send a datagram on a connected socket and wait for its echo;
      outcome connected when the echo came back.
  client.py dnstcp SERVER PORT NAME/TYPE ...
      all queries written back-to-back on ONE TCP connection, then all
      answers read; {"answers": [{"id", "name", "rcode", "addrs"}...]}.
  client.py bench SERVER PORT NAME SECONDS WINDOW
      UDP queries for NAME with WINDOW outstanding for SECONDS;
      {"sent", "answered", "noerror", "qps"}.
"""
import errno
import json
import os
import random
import select
import socket
import struct
import sys
import time

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "MX": 15, "TXT": 16, "AAAA": 28, "SVCB": 64, "HTTPS": 65}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def classify(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    n = getattr(e, "errno", None)
    if n == errno.ECONNREFUSED:
        return "refused"
    if n in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES):
        return "unreachable"
    if n == errno.EPERM:
        return "eperm"
    if n in (errno.ETIMEDOUT, errno.EAGAIN, errno.EINPROGRESS):
        return "timeout"
    return "error"


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def out(d):
    print(json.dumps(d), flush=True)


def do_tcp(host, port, timeout, hold):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    res = {"proto": "tcp", "host": host, "port": port}
    try:
        s.connect((host, port))
    except OSError as e:
        res.update(outcome=classify(e), errno=errno.errorcode.get(e.errno or 0, str(e)),
                   ms=round((time.monotonic() - t0) * 1000, 1))
        out(res)
        return 0
    res.update(outcome="connected", errno=None, ms=round((time.monotonic() - t0) * 1000, 1))
    try:
        res["banner"] = s.recv(3) == b"ok\n"
        s.sendall(b"ping\n")
        res["echo"] = s.recv(5) == b"ping\n"
    except OSError as e:
        res.update(banner=res.get("banner", False), echo=False, error=str(e))
    out(res)
    if hold:
        time.sleep(hold)
        r2 = {"phase": "after-hold"}
        try:
            s.sendall(b"again\n")
            r2["echo"] = s.recv(6) == b"again\n"
        except OSError as e:
            r2.update(echo=False, error=str(e))
        out(r2)
    s.close()
    return 0


def do_udp(host, port, timeout):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    res = {"proto": "udp", "host": host, "port": port}
    try:
        s.connect((host, port))
        s.send(b"ping")
        d = s.recv(100)
        res.update(outcome="connected" if d == b"ping" else "error", errno=None)
    except OSError as e:
        res.update(outcome=classify(e), errno=errno.errorcode.get(getattr(e, "errno", 0) or 0, str(e)))
    res["ms"] = round((time.monotonic() - t0) * 1000, 1)
    out(res)
    return 0


def build_query(qid, name, qtype):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", QTYPES[qtype.upper()], 1)


def skip_name(m, i):
    while True:
        n = m[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1


def read_name(m, i):
    labels = []
    while True:
        n = m[i]
        if n == 0:
            break
        if n & 0xC0 == 0xC0:
            i = ((n & 0x3F) << 8) | m[i + 1]
            continue
        labels.append(m[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += n + 1
    return ".".join(labels)


def parse_answer(m):
    qid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", m[:12])
    i = 12
    name = ""
    for _ in range(qd):
        name = read_name(m, i)
        i = skip_name(m, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(m, i)
        typ, _cls, _ttl, rdlen = struct.unpack("!HHIH", m[i:i + 10])
        i += 10
        rd = m[i:i + rdlen]
        if typ == 1:
            addrs.append(socket.inet_ntop(socket.AF_INET, rd))
        elif typ == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, rd))
        i += rdlen
    return {"id": qid, "name": name, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)),
            "tc": bool(flags & 0x200), "addrs": addrs}


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise ConnectionError("closed after %d of %d bytes" % (len(b), n))
        b += d
    return b


def do_dnstcp(server, port, queries):
    s = socket.socket(family_of(server), socket.SOCK_STREAM)
    s.settimeout(3)
    res = {"answers": []}
    try:
        s.connect((server, port))
        buf = b""
        for n, q in enumerate(queries):
            name, _, qtype = q.partition("/")
            m = build_query(0x1000 + n, name, qtype or "A")
            buf += struct.pack("!H", len(m)) + m
        s.sendall(buf)  # all at once: pipelined on one connection
        for _ in queries:
            ln = struct.unpack("!H", recv_exact(s, 2))[0]
            res["answers"].append(parse_answer(recv_exact(s, ln)))
    except (OSError, ConnectionError) as e:
        res["error"] = str(e)
    out(res)
    return 0


def do_bench(server, port, name, seconds, window):
    s = socket.socket(family_of(server), socket.SOCK_DGRAM)
    s.connect((server, port))
    s.setblocking(False)
    qs = [build_query(i, name, "A") for i in range(65536)]
    sent = answered = noerror = 0
    outstanding = {}
    end = time.monotonic() + seconds
    qid = random.randrange(65536)
    while time.monotonic() < end:
        now = time.monotonic()
        # queries unanswered for 1 s are given up
        for k in [k for k, t in outstanding.items() if now - t > 1.0]:
            del outstanding[k]
        while len(outstanding) < window:
            qid = (qid + 1) & 0xFFFF
            if qid in outstanding:
                continue
            try:
                s.send(qs[qid])
            except BlockingIOError:
                break
            except OSError:
                break
            outstanding[qid] = now
            sent += 1
        r, _, _ = select.select([s], [], [], 0.05)
        if not r:
            continue
        while True:
            try:
                m = s.recv(4096)
            except (BlockingIOError, OSError):
                break
            if len(m) < 12:
                continue
            k = struct.unpack("!H", m[:2])[0]
            if outstanding.pop(k, None) is not None:
                answered += 1
                if m[3] & 0xF == 0:
                    noerror += 1
    out({"sent": sent, "answered": answered, "noerror": noerror,
         "qps": round(answered / seconds, 1)})
    return 0


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode, args = argv[0], argv[1:]
    opts = {"--timeout": 1.5, "--hold": 0.0}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in opts:
            opts[args[i]] = float(args[i + 1])
            i += 2
        else:
            pos.append(args[i])
            i += 1
    if mode == "tcp":
        return do_tcp(pos[0], int(pos[1]), opts["--timeout"], opts["--hold"])
    if mode == "udp":
        return do_udp(pos[0], int(pos[1]), opts["--timeout"])
    if mode == "dnstcp":
        return do_dnstcp(pos[0], int(pos[1]), pos[2:])
    if mode == "bench":
        return do_bench(pos[0], int(pos[1]), pos[2], float(pos[3]), int(pos[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv[1:]))
