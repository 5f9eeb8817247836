#!/usr/bin/env python3
"""Lab client for tests_dnswho.py (python3 stdlib only): a DNS client whose
denied queries the resolver names. Run it through a symlink to python3 so
its comm is the symlink's name. Prints one JSON line {"pid": ..., ...}.

  dnswhoclient.py udp|tcp SERVER NAME...   one query per name, each on a
                                           fresh socket (connected, as
                                           glibc's), closed at once after
                                           the answer; each one's rcode and
                                           time in us
"""
import json
import os
import socket
import struct
import sys
import time


def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def ask(proto, server, name, qid):
    msg = query(qid, name)
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.connect((server, 53))
        t0 = time.perf_counter()
        s.send(msg)
        reply = s.recv(4096)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect((server, 53))
        t0 = time.perf_counter()
        s.sendall(struct.pack(">H", len(msg)) + msg)
        hdr = s.recv(2)
        n = struct.unpack(">H", hdr)[0]
        reply = b""
        while len(reply) < n:
            reply += s.recv(n - len(reply))
    us = int((time.perf_counter() - t0) * 1e6)
    s.close()
    rcode = reply[3] & 0x0F if struct.unpack(">H", reply[:2])[0] == qid else -1
    return rcode, us


def main():
    proto, server, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    res = []
    for i, name in enumerate(names):
        try:
            rcode, us = ask(proto, server, name, (os.getpid() + i) & 0xFFFF)
        except OSError as e:
            rcode, us = type(e).__name__, -1
        res.append({"name": name, "rcode": rcode, "us": us})
    print(json.dumps({"pid": os.getpid(), "res": res}), flush=True)


if __name__ == "__main__":
    main()
