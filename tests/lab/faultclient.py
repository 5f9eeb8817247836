#!/usr/bin/env python3
"""Hostile clients for the fault tests (python3 stdlib only); run in the
sandbox namespace as the agent's uid. Every mode prints one JSON line.

  faultclient.py flood SERVER PORT SECONDS
      UDP queries for random names off the list (NNNNNNNN.flood.test), as fast
      as one process can send them, answers drained as they come;
      {"sent", "answered", "rcodes": {rcode: count}, "qps", "aps"}.
  faultclient.py idletcp SERVER PORT N HOLD
      open N TCP connections and send nothing; after HOLD seconds count how
      many the server closed; meanwhile one fresh connection asks
      www.lab.test A; {"opened", "closed_by_server", "fresh": {...}}.
  faultclient.py hugelen SERVER PORT
      TCP: announce a 65535-byte message, send 10 bytes and stall; on a second
      connection send a full 65535 bytes of garbage; on a third a length
      below a header; then ask www.lab.test A on a fresh connection;
      {"stalled_open", "garbage": answer or error, "short": ..., "fresh": ...}.
  faultclient.py synflood HOST PORT N HOLD
      N non-blocking connects (each socket closed at once, its SYN stays
      queued) plus 20 held ones that are watched for HOLD seconds;
      {"sent", "connected", "held_states": {...}}.
"""
import errno
import json
import os
import random
import resource
import select
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def out(d):
    print(json.dumps(d), flush=True)


def query(qid, name, qtype=1):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def do_flood(server, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.connect((server, port))
    s.setblocking(False)
    rnd = random.Random(os.getpid())
    qs = [query(i & 0xffff, "%08x.flood.test" % rnd.getrandbits(32)) for i in range(20000)]
    sent = answered = 0
    rcodes = {}
    t0 = time.monotonic()
    end = t0 + seconds
    i = 0

    def drain():
        nonlocal answered
        while True:
            try:
                a = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            answered += 1
            rc = RCODES.get(a[3] & 0x0f, str(a[3] & 0x0f)) if len(a) >= 4 else "short"
            rcodes[rc] = rcodes.get(rc, 0) + 1

    while time.monotonic() < end:
        for _ in range(512):
            try:
                s.send(qs[i])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            sent += 1
            i = (i + 1) % len(qs)
        drain()
    t1 = time.monotonic()
    stop = t1 + 1.0
    while time.monotonic() < stop:
        select.select([s], [], [], 0.1)
        drain()
    out({"sent": sent, "answered": answered, "rcodes": rcodes, "qps": round(sent / (t1 - t0)),
         "aps": round(answered / (t1 - t0))})
    return 0


def ask_tcp(server, port, name="www.lab.test", timeout=3):
    res = {}
    t0 = time.monotonic()
    try:
        with socket.create_connection((server, port), timeout=timeout) as c:
            q = query(0x4242, name)
            c.sendall(struct.pack("!H", len(q)) + q)
            n = struct.unpack("!H", recv_exact(c, 2))[0]
            a = recv_exact(c, n)
            res = {"id": struct.unpack("!H", a[:2])[0], "rcode": RCODES.get(a[3] & 0x0f, a[3] & 0x0f),
                   "an": struct.unpack("!H", a[6:8])[0]}
    except (OSError, ValueError) as e:
        res = {"error": str(e)}
    res["ms"] = round((time.monotonic() - t0) * 1000, 1)
    return res


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise ValueError("closed after %d of %d bytes" % (len(b), n))
        b += d
    return b


def closed_by_peer(c):
    try:
        d = c.recv(1, socket.MSG_DONTWAIT)
        return d == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def do_idletcp(server, port, n, hold):
    raise_nofile()
    conns, errors = [], 0
    for _ in range(n):
        try:
            c = socket.create_connection((server, port), timeout=2)
            conns.append(c)
        except OSError:
            errors += 1
    fresh = ask_tcp(server, port)
    time.sleep(hold)
    closed = sum(1 for c in conns if closed_by_peer(c))
    fresh2 = ask_tcp(server, port)
    for c in conns:
        c.close()
    out({"opened": len(conns), "errors": errors, "closed_by_server": closed, "fresh": fresh, "fresh_after": fresh2})
    return 0


def do_hugelen(server, port):
    res = {}
    stalled = socket.create_connection((server, port), timeout=3)
    stalled.sendall(b"\xff\xff" + b"\x00" * 10)
    g = socket.create_connection((server, port), timeout=3)
    try:
        g.sendall(b"\xff\xff" + bytes(random.Random(7).getrandbits(8) for _ in range(65535)))
        n = struct.unpack("!H", recv_exact(g, 2))[0]
        a = recv_exact(g, n)
        res["garbage"] = {"rcode": RCODES.get(a[3] & 0x0f, a[3] & 0x0f)}
    except (OSError, ValueError) as e:
        res["garbage"] = {"error": str(e)}
    g.close()
    sh = socket.create_connection((server, port), timeout=3)
    try:
        sh.sendall(b"\x00\x05hello")
        res["short"] = {"closed": recv_exact_or_eof(sh)}
    except OSError as e:
        res["short"] = {"error": str(e)}
    sh.close()
    res["fresh"] = ask_tcp(server, port)
    res["stalled_open"] = not closed_by_peer(stalled)
    stalled.close()
    out(res)
    return 0


def recv_exact_or_eof(s):
    try:
        return s.recv(100) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def do_synflood(host, port, n, hold):
    raise_nofile()
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    sent = connected = 0
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        r = s.connect_ex((host, port))
        if r in (0, errno.EINPROGRESS):
            sent += 1
        if r == 0:
            connected += 1
        s.close()
    held = []
    for _ in range(20):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, port))
        held.append(s)
    flood_s = time.monotonic() - t0
    end = time.monotonic() + hold
    states = {}
    pending = list(held)
    while pending and time.monotonic() < end:
        _r, w, _x = select.select([], pending, [], max(0.0, end - time.monotonic()))
        for s in w:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            k = "connected" if err == 0 else errno.errorcode.get(err, str(err))
            states[k] = states.get(k, 0) + 1
            if err == 0:
                connected += 1
            pending.remove(s)
    states["pending"] = len(pending)
    for s in held:
        s.close()
    out({"sent": sent, "connected": connected, "held_states": states, "flood_s": round(flood_s, 2)})
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        print(__doc__, file=sys.stderr)
        return 2
    if a[0] == "flood":
        return do_flood(a[1], int(a[2]), float(a[3]))
    if a[0] == "idletcp":
        return do_idletcp(a[1], int(a[2]), int(a[3]), float(a[4]))
    if a[0] == "hugelen":
        return do_hugelen(a[1], int(a[2]))
    if a[0] == "synflood":
        return do_synflood(a[1], int(a[2]), int(a[3]), float(a[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
