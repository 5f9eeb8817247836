#!/usr/bin/env python3
"""Lab client for tests_who.py (python3 stdlib only): a sender whose denied
flow the gate names. Run it through a symlink to python3 so its comm is the
symlink's name. Prints one JSON line {"pid": ..., ...} per step on stdout.

  whoclient.py tcp HOST PORT HOLD    blocking connect, then stay HOLD seconds
  whoclient.py udp HOST PORT HOLD    one datagram from an unconnected socket
  whoclient.py fire tcp|udp HOST PORT  send (SYN or datagram) and exit at once
  whoclient.py hidden HOST PORT      as tcp, after prctl(PR_SET_DUMPABLE, 0)
  whoclient.py many HOST0 COUNT PORT GO  once file GO exists, COUNT connects
                                       to HOST0, HOST0+1, ..., each one's
                                       connect-to-refused time in us
"""
import ipaddress
import json
import os
import socket
import sys
import time


def out(**kw):
    kw["pid"] = os.getpid()
    print(json.dumps(kw), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "hidden":
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE
        mode = "tcp"
        sys.argv[4:] = ["0"]
    if mode in ("tcp", "udp"):
        host, port, hold = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        if mode == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect((host, port))
                res = "connected"
            except OSError as e:
                res = type(e).__name__
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.sendto(b"who", (host, port))
            res = "sent"
        out(outcome=res, sport=s.getsockname()[1])
        time.sleep(hold)
        s.close()
    elif mode == "fire":
        proto, host, port = sys.argv[2], sys.argv[3], int(sys.argv[4])
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        if proto == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.sendto(b"who", (host, port))
        out(outcome="fired", sport=s.getsockname()[1])
        os._exit(0)
    elif mode == "many":
        base, count, port = ipaddress.ip_address(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        out(outcome="waiting")
        while not os.path.exists(sys.argv[5]):
            time.sleep(0.01)
        us = []
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(3)
            t0 = time.perf_counter()
            try:
                s.connect((str(base + i), port))
            except OSError:
                pass
            us.append(int((time.perf_counter() - t0) * 1e6))
            s.close()
        out(us=us)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
