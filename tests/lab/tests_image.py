"""The image's confinement of the agent (tests 75-79): namegate-confine, the
seccomp filter that namegate-as-agent puts in front of the agent's command,
run here as the agent in the sandbox namespace with namegate enforcing."""
import json
import os

import lab
from lab import Fail, AGENT_UID, run
from tests_lab import check, test, want_answer

# As the agent, under the filter: which sockets can it make, and does an
# allowed flow still work? One JSON object on stdout.
PROBE = r"""
import errno, json, os, socket, sys
out = {}
def try_sock(name, fam, typ, proto=0):
    try:
        socket.socket(fam, typ, proto).close()
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
try_sock("vsock", 40, socket.SOCK_STREAM)
try_sock("packet", 17, socket.SOCK_RAW, 0x0300)
try_sock("inet-sock-packet", socket.AF_INET, 10, 0x0300)
try_sock("bluetooth", 31, socket.SOCK_STREAM)
try_sock("xdp", 44, socket.SOCK_RAW)
try_sock("unix", socket.AF_UNIX, socket.SOCK_STREAM)
try_sock("inet", socket.AF_INET, socket.SOCK_STREAM)
try_sock("inet6", socket.AF_INET6, socket.SOCK_DGRAM)
try_sock("netlink-route", socket.AF_NETLINK, socket.SOCK_RAW, 0)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
r = libc.syscall(425, 4, params)
out["io_uring"] = "ok" if r >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
# getaddrinfo with AI_ADDRCONFIG asks netlink for the interfaces' addresses
try:
    socket.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
    out["getaddrinfo"] = "ok"
except OSError as e:
    out["getaddrinfo"] = str(e)
try:
    s = socket.create_connection((sys.argv[1], 443), timeout=2)
    s.close()
    out["allowed-connect"] = "ok"
except OSError as e:
    out["allowed-connect"] = str(e)
print(json.dumps(out))
"""


@test("75.confine.socket-families")
def t_confine(t):
    confine = os.path.join(t.lab.build, "confine", "namegate-confine")
    check(os.access(confine, os.X_OK), "no %s" % confine)
    t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    p = run([confine, "python3", "-c", PROBE, "192.0.2.10"], ns=lab.SBX, uid=AGENT_UID, check=False)
    try:
        got = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Fail("probe printed no result (rc %d): %s %s" % (p.returncode, p.stdout, p.stderr))
    want = {
        "vsock": "EAFNOSUPPORT", "packet": "EAFNOSUPPORT", "inet-sock-packet": "EAFNOSUPPORT",
        "bluetooth": "EAFNOSUPPORT", "xdp": "EAFNOSUPPORT", "io_uring": "ENOSYS",
        "unix": "ok", "inet": "ok", "inet6": "ok", "netlink-route": "ok", "getaddrinfo": "ok",
        "allowed-connect": "ok",
    }
    bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
    check(not bad, "under namegate-confine, as the agent: (got, want)", bad, got)
    # The same probe without the filter: what the filter takes away is there
    # to take (vsock and io_uring exist on this kernel, or it is skipped).
    p = run(["python3", "-c", PROBE, "192.0.2.10"], ns=lab.SBX, uid=AGENT_UID, check=False)
    free = json.loads(p.stdout.strip().splitlines()[-1])
    print("    unconfined, the agent gets: vsock=%s io_uring=%s packet=%s" % (
        free.get("vsock"), free.get("io_uring"), free.get("packet")))
