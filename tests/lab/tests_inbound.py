"""Inbound connections as an egress channel: a listener the agent opens in
the sandbox, reached from the internet namespace. New inbound flows are
dropped (and logged as flow.deny reason=inbound) unless [gate] inbound lists
their port; loopback, flows under way and IPv6's neighbour discovery keep
working."""
import os
import time

import lab
from lab import AGENT_UID, run, wait_until
from tests_lab import check, test, want_answer, want_connect, want_event

SBX4 = "198.18.0.2"
SBX6 = "2001:db8:ff::2"
TCP_OPEN, TCP_SHUT = 3000, 3001
UDP_OPEN, UDP_SHUT = 5000, 5001


def agent_listener(t):
    """listener.py as the agent in the sandbox: TCP 3000 3001, UDP 5000 5001,
    IPv4 and IPv6."""
    p = t.bg("agent-listener-" + t.name,
             ["setpriv", "--reuid", str(AGENT_UID), "--regid", str(AGENT_UID), "--clear-groups",
              "python3", "-u", os.path.join(lab.HERE, "listener.py"), "serve",
              "--tcp", str(TCP_OPEN), str(TCP_SHUT), "--udp", str(UDP_OPEN), str(UDP_SHUT)])
    check(wait_until(lambda: "ready" in p.tail() or not p.alive(), 5) and p.alive(),
          "the agent's listener did not start", p.tail())
    return p


def from_net(host, port, proto="tcp", timeout=1.0):
    """A client in the internet namespace (another container, the world)."""
    return lab.connect(host, port, proto, timeout=timeout, ns=lab.NET, uid=None)


def want_in(host, port, proto="tcp"):
    r = from_net(host, port, proto)
    check(r["outcome"] == "connected", "from outside, %s %s:%s should reach the agent's listener" % (proto, host, port), r)
    if proto == "tcp":
        check(r.get("banner") and r.get("echo"), "connected in, but no data exchanged", r)


def want_not_in(host, port, proto="tcp"):
    r = from_net(host, port, proto)
    check(r["outcome"] != "connected",
          "from outside, %s %s:%s reached the agent's listener (an egress channel)" % (proto, host, port), r)


def outward_still_works():
    """The agent's own flows, IPv4 and IPv6, with both sides' neighbour
    caches flushed: neighbour discovery must pass the inbound chain."""
    run(["ip", "-6", "neigh", "flush", "dev", "ngv-sbx"], ns=lab.SBX)
    run(["ip", "-6", "neigh", "flush", "dev", "ngv-net"], ns=lab.NET)
    run(["ip", "-4", "neigh", "flush", "dev", "ngv-sbx"], ns=lab.SBX)
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10")
    want_connect("192.0.2.10", 443)
    want_connect("2001:db8:1::10", 443)


@test("62.attack.inbound-listener")
def t_inbound_listener(t):
    """By default no new inbound flow reaches a listener the agent opened:
    TCP and UDP, IPv4 and IPv6; each is logged; the agent's own flows and
    loopback are unaffected."""
    t.lab.fresh_sbx()
    agent_listener(t)
    # baseline, before namegate: the world reaches the agent's listener
    for host in (SBX4, SBX6):
        want_in(host, TCP_OPEN)
        want_in(host, UDP_OPEN, "udp")
    ng = t.namegate(fresh=False)
    m = ng.mark()
    for host in (SBX4, SBX6):
        for port in (TCP_OPEN, TCP_SHUT):
            want_not_in(host, port)
        for port in (UDP_OPEN, UDP_SHUT):
            want_not_in(host, port, "udp")
        want_event(ng, m, "flow.deny", dst=host, dport=TCP_OPEN, proto="tcp", reason="inbound")
        want_event(ng, m, "flow.deny", dst=host, dport=UDP_OPEN, proto="udp", reason="inbound")
    # loopback: the agent's own dev server, reached from inside
    for host in ("127.0.0.1", "::1", SBX4):
        r = lab.connect(host, TCP_OPEN)
        check(r["outcome"] == "connected" and r.get("echo"), "inside, tcp %s:%d should connect" % (host, TCP_OPEN), r)
    outward_still_works()
    # one jump from INPUT, also after a second --setup
    p = ng.cmd("nfq", "--setup")
    check(p.returncode == 0, "second --setup failed", p.stdout + p.stderr)
    for fam in (4, 6):
        txt = lab.rules_save(fam)
        jumps = [ln for ln in txt.splitlines() if ln.startswith("-A INPUT") and "NAMEGATE-IN" in ln]
        check(len(jumps) == 1, "IPv%d: want exactly one jump from INPUT" % fam, txt)
    ng.stop()
    ng.teardown()
    # no namegate, no inbound chain: the listener is reachable again
    want_in(SBX4, TCP_OPEN)
    check("NAMEGATE" not in lab.rules_save(4) + lab.rules_save(6), "chains left after --teardown")


@test("63.attack.inbound-ports")
def t_inbound_ports(t):
    """[gate] inbound opens exactly the listed ports (a dev server published
    with -p), IPv4 and IPv6; taking a port off the list closes it on reload."""
    t.lab.fresh_sbx()
    agent_listener(t)
    ng = t.namegate(gate={"inbound": "tcp/%d udp/%d" % (TCP_OPEN, UDP_OPEN)}, fresh=False)
    m = ng.mark()
    for host in (SBX4, SBX6):
        want_in(host, TCP_OPEN)
        want_in(host, UDP_OPEN, "udp")
        want_not_in(host, TCP_SHUT)
        want_not_in(host, UDP_SHUT, "udp")
        want_event(ng, m, "flow.deny", dst=host, dport=TCP_SHUT, reason="inbound")
    outward_still_works()
    # off the list: closed from the reload on
    m = ng.mark()
    ng.write_conf(ng.conf_text.replace("inbound = tcp/%d udp/%d\n" % (TCP_OPEN, UDP_OPEN), "inbound =\n"))
    check(ng.wait_event(m, "config.load", daemon="namegate-nfq", timeout=5), "the gate did not reload", ng.log_tail())
    check(wait_until(lambda: from_net(SBX4, TCP_OPEN, timeout=0.5)["outcome"] != "connected", 3),
          "tcp/%d still reachable from outside after it left [gate] inbound" % TCP_OPEN)
    want_not_in(SBX6, TCP_OPEN)
    want_not_in(SBX4, UDP_OPEN, "udp")


@test("64.audit.inbound")
def t_inbound_audit(t):
    """mode = audit lets new inbound flows in, and says so (flow.audit
    reason=inbound)."""
    t.lab.fresh_sbx()
    agent_listener(t)
    ng = t.namegate(gate={"mode": "audit"}, fresh=False)
    m = ng.mark()
    for host in (SBX4, SBX6):
        want_in(host, TCP_SHUT)
        want_event(ng, m, "flow.audit", dst=host, dport=TCP_SHUT, reason="inbound")


FLOOD = r"""
import socket, sys, time
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
end, n = time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < end:
    for sport in range(64):
        try:
            s.sendto(b"x" * 32, (sys.argv[1], int(sys.argv[2])))
            n += 1
        except OSError:
            pass
print(n)
"""


@test("62b.attack.inbound-flood")
def t_inbound_flood(t):
    """A flood of new inbound flows from outside costs the gate at most 100
    queued packets a second: its log lines stay within that, the queue does
    not overflow, and the agent's own denials are still answered at once."""
    from tests_faults import nfqueue_dropped
    from tests_lab import want_refused
    t.lab.fresh_sbx()
    ng = t.namegate(fresh=False)
    m, d0 = ng.mark(), nfqueue_dropped()
    flood = t.bg("inbound-flood-" + t.name, ["python3", "-c", FLOOD, SBX4, str(UDP_SHUT), "3"], ns=lab.NET)
    time.sleep(0.5)
    for _ in range(3):
        want_refused("192.0.2.11", 443)  # v4only.lab.test, never resolved here
        time.sleep(0.3)
    check(wait_until(lambda: not flood.alive(), 10), "the flood did not end")
    sent = int(flood.tail().split()[-1])
    check(sent > 20000, "the flood was not much of a flood", sent)
    time.sleep(1.2)  # the gate's once-a-second flow.suppressed summary
    lines = ng.events(m, "flow.deny", reason="inbound")
    queued = len(lines) + sum(int(e.get("count", 0)) for e in ng.events(m, "flow.suppressed"))
    lab.log("    (inbound flood: %d datagrams in 3 s; %d reached the gate, %d logged; queue drops %s -> %s)" % (
        sent, queued, len(lines), d0, nfqueue_dropped()))
    check(lines, "the flood was not logged at all")
    # the kernel's limit: a burst of 100, then 100 a second (plus the agent's own few)
    check(queued <= 100 + 4 * 100 + 10, "more inbound packets reached the gate than the limit lets through", queued)
    check(nfqueue_dropped() == d0, "the queue overflowed", d0, nfqueue_dropped())
    want_event(ng, m, "flow.deny", dst="192.0.2.11", uid=AGENT_UID, reason="unresolved")
