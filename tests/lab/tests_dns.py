"""Local forwarders as a way around the gate: Docker's embedded DNS at the
ports it really listens on, and the root exception it needs.

Docker's 127.0.0.11 listens on random high ports and DNATs :53 to them; it
forwards whatever reaches it, as root, from inside the container's
namespace (or from the host's, out of our rules' reach). The lab models it
in the sandbox namespace: tests/lab/dockerdns.py on 127.0.0.11 at
kernel-chosen UDP and TCP ports, run as root, forwarding to the lab's
upstream, and the nat OUTPUT DNATs Docker installs."""
import os
import re

import lab
from lab import AGENT_UID, dig, run, wait_until
from tests_lab import check, test, want_answer, want_connect, want_event, want_refused

DOCKER_DNS = "127.0.0.11"
OFFLIST = "leak-60.offlist.test"


def docker_dns(t, ext_line):
    """Docker's embedded DNS in the sandbox, and namegate using it as the
    container does (upstream = auto from a copy of Docker's resolv.conf).
    Returns (namegate, forwarder, udp port, tcp port, resolv.conf copy)."""
    t.lab.fresh_sbx()
    fwd = t.bg("dockerdns-" + t.name, ["python3", "-u", os.path.join(lab.HERE, "dockerdns.py"), DOCKER_DNS, lab.UPSTREAM4])
    check(wait_until(lambda: "ready" in fwd.tail(), 5), "the Docker DNS stand-in did not start", fwd.tail())
    m = re.search(r"^ports (\d+) (\d+)$", fwd.tail(), re.M)
    uport, tport = int(m.group(1)), int(m.group(2))
    for proto, port in (("udp", uport), ("tcp", tport)):
        run(["iptables", "-t", "nat", "-A", "OUTPUT", "-d", DOCKER_DNS, "-p", proto, "--dport", "53",
             "-j", "DNAT", "--to-destination", "%s:%d" % (DOCKER_DNS, port)], ns=lab.SBX)
    # without namegate, the agent resolves anything through it, on every port
    for kw in (dict(), dict(tcp=True), dict(extra=("-p", str(uport))), dict(tcp=True, extra=("-p", str(tport)))):
        r = dig("www.lab.test", server=DOCKER_DNS, **kw)
        check(r.status == "NOERROR", "baseline: the Docker DNS stand-in answers the agent (%s)" % kw, r, fwd.tail())
    d = t.lab.new_dir("resolv")
    rc = os.path.join(d, "resolv.conf.upstream")
    with open(rc, "w") as f:
        f.write("nameserver %s\noptions ndots:0\n\n# Based on host file: '/etc/resolv.conf' (internal resolver)\n"
                "%s# Overrides: []\n# Option ndots from: internal\n" % (DOCKER_DNS, ext_line))
    os.chmod(rc, 0o644)
    ng = t.namegate(resolver={"upstream": "auto", "resolv_conf": rc}, fresh=False)
    return ng, fwd, uport, tport, rc


def agent_cannot_reach(ng, fwd, uport, tport):
    """As the agent, the stand-in's real ports give no answer, over UDP and
    TCP, and each attempt is denied as DNS; nothing is forwarded."""
    m = ng.mark()
    fm = len(fwd.tail(100000))
    cases = [
        ("udp to the real UDP port", dict(extra=("-p", str(uport))), uport),
        ("tcp to the real TCP port", dict(tcp=True, extra=("-p", str(tport))), tport),
        ("tcp to the real UDP port", dict(tcp=True, extra=("-p", str(uport))), uport),
        ("udp to the real TCP port", dict(extra=("-p", str(tport))), tport),
        ("udp to :53 (DNAT)", dict(), None),
        ("tcp to :53 (DNAT)", dict(tcp=True), None),
    ]
    for what, kw, port in cases:
        r = dig(OFFLIST, server=DOCKER_DNS, timeout=1, **kw)
        check(r.status is None, "agent DNS to 127.0.0.11, %s, must get no answer" % what, r)
        check(r.ms < 1500, "agent DNS to 127.0.0.11, %s, should fail at once (reject)" % what, r)
        if port is not None:
            want_event(ng, m, "flow.deny", dst=DOCKER_DNS, dport=port, uid=AGENT_UID, reason="dns")
    # a plain TCP connect to the real port, as any program would
    r = lab.connect(DOCKER_DNS, tport, timeout=1)
    check(r["outcome"] != "connected", "agent tcp connect to 127.0.0.11:%d must fail" % tport, r)
    check(OFFLIST not in fwd.tail(100000)[fm:], "the stand-in forwarded the agent's query", fwd.tail())


@test("60.attack.docker-dns-real-port")
def t_docker_dns_real_port(t):
    """Docker's embedded DNS at its real ports is out of the agent's reach
    (UDP and TCP), while namegate resolves through it; and root may send
    DNS only to the ExtServers Docker forwards to from here."""
    ng, fwd, uport, tport, _ = docker_dns(t, "# ExtServers: [%s host(127.0.0.53)]\n" % lab.UPSTREAM4)
    um = t.lab.unbound_mark()
    agent_cannot_reach(ng, fwd, uport, tport)
    # the allowlisted name still resolves through namegate (and so through
    # the stand-in), and connects; an off-list one leaks nothing upstream
    r = want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("www.lab.test", "A", "192.0.2.10", tcp=True)
    check("FWD www.lab.test" in fwd.tail(100000), "namegate's query did not go through the stand-in", fwd.tail())
    want_connect("192.0.2.10", 443)
    r = dig(OFFLIST)
    check(r.status == "NXDOMAIN", "off-list name through namegate", r)
    check(OFFLIST not in t.lab.unbound_since(um), "the off-list name reached the upstream",
          t.lab.unbound_since(um)[-2000:])
    # root's exception is Docker's: to its ExtServers, port 53, only
    m = ng.mark()
    r = dig("www.lab.test", server=lab.UPSTREAM4, uid=None)
    check(r.status == "NOERROR", "root DNS to Docker's ExtServer %s (as Docker's forwarder does)" % lab.UPSTREAM4, r)
    for server in (lab.AUTH4, lab.UPSTREAM6):
        r = dig("www.lab.test", server=server, uid=None, timeout=1)
        check(r.status is None, "root DNS to %s, not one of Docker's ExtServers, must fail" % server, r)
        want_event(ng, m, "flow.deny", dst=server, uid=0, reason="dns")
    r = dig("www.lab.test", server=lab.AUTH4, uid=None, tcp=True, timeout=1)
    check(r.status is None, "root DNS over TCP to %s must fail" % lab.AUTH4, r)
    # root too: nobody but the resolver reaches 127.0.0.11's real ports
    r = dig(OFFLIST, server=DOCKER_DNS, uid=None, timeout=1, extra=("-p", str(uport)))
    check(r.status is None, "root DNS to 127.0.0.11's real port must fail", r)


@test("61.attack.docker-dns-old-docker")
def t_docker_dns_old(t):
    """Docker before 25 writes no ExtServers comment: namegate still
    resolves through its embedded DNS (root may send DNS anywhere off
    loopback, as before), and the real ports stay closed to the agent."""
    ng, fwd, uport, tport, _ = docker_dns(t, "")
    agent_cannot_reach(ng, fwd, uport, tport)
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    want_refused("192.0.2.11", 443)
    check(any("ExtServers" in e.get("msg", "") for e in ng.events(0, "daemon", daemon="namegate-nfq")),
          "the gate should say that root's DNS exception is broad", ng.log_tail())
