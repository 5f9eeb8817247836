#!/usr/bin/env python3
"""Clients for the log-flood and query-case tests (python3 stdlib only), run
in the sandbox as the agent. Each prints one JSON line.

  logq_client.py dns SERVER NAME QTYPE
      one UDP query for NAME (sent in exactly that case) and type number
      QTYPE; prints the rcode, the reply's question name and the owner of
      every answer record as they are on the wire (case kept), and the A
      addresses.
  logq_client.py dnsflood SERVER NAME:COUNT...
      COUNT queries (type A) for each NAME in turn, one at a time over one
      socket, each waiting for its answer; prints the rcodes and how long
      it all took.
  logq_client.py connflood HOST:PORT:COUNT...
      COUNT TCP connects to each HOST:PORT in turn; prints the outcomes and
      how long it all took.
"""
import errno
import json
import random
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def out(d):
    sys.stdout.write(json.dumps(d) + "\n")
    sys.stdout.flush()


def query(qid, name, qtype):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def read_name(m, i):
    """(name as on the wire, case kept, following pointers; offset after it)."""
    labels, end, hops = [], None, 0
    while True:
        n = m[i]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = i + 2
            i = ((n & 0x3F) << 8) | m[i + 1]
            hops += 1
            if hops > 64:
                raise ValueError("pointer loop")
            continue
        if n == 0:
            return ".".join(labels), (end if end is not None else i + 1)
        labels.append(m[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n


def parse(m):
    qid, flags, qd, an = struct.unpack("!HHHH", m[:8])
    i, qname = 12, None
    for _ in range(qd):
        qname, i = read_name(m, i)
        i += 4
    owners, addrs = [], []
    for _ in range(an):
        owner, i = read_name(m, i)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", m[i:i + 10])
        i += 10
        owners.append(owner)
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(m[i:i + 4]))
        i += rdlen
    return {"id": qid, "rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "qname": qname,
            "owners": owners, "addrs": addrs}


def do_dns(server, name, qtype):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    qid = random.getrandbits(16)
    s.sendto(query(qid, name, qtype), (server, 53))
    try:
        r = parse(s.recv(65535))
    except socket.timeout:
        r = {"rcode": None}
    out(r)


def do_dnsflood(server, specs):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.connect((server, 53))
    rcodes, lost, t0, marks = {}, 0, time.monotonic(), []
    for spec in specs:
        name, count = spec.rsplit(":", 1)
        marks.append(round((time.monotonic() - t0) * 1000, 1))
        for k in range(int(count)):
            qid = k & 0xFFFF
            s.send(query(qid, name, 1))
            try:
                m = s.recv(65535)
                rc = RCODES.get(m[3] & 0xF, str(m[3] & 0xF))
                rcodes[rc] = rcodes.get(rc, 0) + 1
            except socket.timeout:
                lost += 1
    out({"rcodes": rcodes, "lost": lost, "ms": round((time.monotonic() - t0) * 1000, 1), "starts_ms": marks})


def do_connflood(specs):
    outcomes, t0, marks = {}, time.monotonic(), []
    for spec in specs:
        host, port, count = spec.rsplit(":", 2)
        marks.append(round((time.monotonic() - t0) * 1000, 1))
        for _ in range(int(count)):
            c = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(1)
            try:
                c.connect((host, int(port)))
                o = "connected"
            except socket.timeout:
                o = "timeout"
            except OSError as e:
                o = "refused" if e.errno == errno.ECONNREFUSED else errno.errorcode.get(e.errno, str(e.errno))
            finally:
                c.close()
            outcomes[o] = outcomes.get(o, 0) + 1
    out({"outcomes": outcomes, "ms": round((time.monotonic() - t0) * 1000, 1), "starts_ms": marks})


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "dns":
        return do_dns(a[1], a[2], int(a[3]))
    if len(a) >= 3 and a[0] == "dnsflood":
        return do_dnsflood(a[1], a[2:])
    if len(a) >= 2 and a[0] == "connflood":
        return do_connflood(a[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
