"""DNS rebinding through an allowlisted name: answers that lead inward.

lab.test.zone has allowed-looking names whose answers point at private,
loopback, link-local, mapped and NAT64 addresses and at the sandbox's own
veth subnets (198.18.0.0/24, 2001:db8:ff::/64; .1 is its gateway, the
internet namespace, where the listeners answer on every address). unbound
answers the single-label name "db" with the gateway, as Docker's DNS
answers a compose neighbour. Without "inward" on the name's line none of
those addresses reaches the client or the sets; with it, they do, on that
line's ports only."""
import os
import re
import socket
import struct

import lab
from lab import dig, ipset_members, wait_until
from tests_lab import BASE_ALLOW, check, no_event, test, want_answer, want_connect, want_event, want_refused

GW4, GW6 = "198.18.0.1", "2001:db8:ff::1"
INWARD4 = ["10.0.0.1", "169.254.169.254", "127.0.0.1", "172.16.0.1", "192.168.0.1", "100.64.0.1",
           GW4, "198.18.0.3"]
INWARD6 = ["fd00::1", "fe80::1", "::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", GW6, "2001:db8:ff::5"]
REBIND = ["inward4.lab.test", "inward6.lab.test", "mixed.lab.test", "rebindsvc.lab.test"]


def set_ips():
    ips = set()
    for s in ("namegate4", "namegate6"):
        for m in ipset_members(s) or []:
            ips.add(m["entry"].rsplit(",", 1)[0])
    return ips


def norm6(ip):
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, ip))


def none_in_sets(ips):
    have = set_ips()
    bad = [ip for ip in ips if ip in have or (":" in ip and norm6(ip) in {norm6(h) for h in have if ":" in h})]
    check(not bad, "inward addresses in the sets: %s" % bad, sorted(have))


def removed_logged(ng, m, name, qtype, ips):
    ev = want_event(ng, m, "dns.filtered", name=name, type=qtype, why="inward")
    got = ev[0].get("removed", "").split(",")
    missing = [ip for ip in ips if norm6(ip) not in [norm6(g) for g in got if ":" in g]] if ":" in ips[0] \
        else [ip for ip in ips if ip not in got]
    check(not missing, "dns.filtered for %s %s does not name %s" % (name, qtype, missing), ev[0]["_line"])


@test("65.inward.rebind-removed")
def t_rebind(t):
    """An allowed name whose DNS answers inward addresses: the client sees
    none of them, the sets get none, a connect to them is refused, and the
    log names each removed address."""
    ng = t.namegate(allow=BASE_ALLOW + REBIND)
    m = ng.mark()
    for name, qtype, ips in (("inward4.lab.test", "A", INWARD4), ("inward6.lab.test", "AAAA", INWARD6)):
        r = dig(name, qtype)
        check(r.status == "NOERROR", "dig %s %s: the answer is relayed (without its addresses)" % (name, qtype), r)
        check(not r.addrs(), "dig %s %s: no inward address may reach the client" % (name, qtype), r)
        removed_logged(ng, m, name, qtype, ips)
    none_in_sets(INWARD4 + INWARD6)
    no_event(ng, m, "dns.error")
    # the gateway and the own subnet answer (listeners in the internet
    # namespace): only namegate stands between the agent and them
    for host in (GW4, GW6, "10.0.0.1", "169.254.169.254", "fd00::1"):
        want_refused(host, 443)
    want_event(ng, m, "flow.deny", dst=GW4, dport=443, reason="unresolved")
    want_event(ng, m, "flow.deny", dst=GW6, dport=443, reason="unresolved")


@test("65b.inward.mixed-keeps-public")
def t_mixed(t):
    """A mixed answer keeps its public addresses (and only those); an HTTPS
    record with an inward hint is removed whole."""
    ng = t.namegate(allow=BASE_ALLOW + REBIND)
    m = ng.mark()
    r = want_answer("mixed.lab.test", "A", "192.0.2.81")
    check(r.addrs() == ["192.0.2.81"], "only the public A record is relayed", r)
    r = want_answer("mixed.lab.test", "AAAA", "2001:db8:1::81")
    check(r.addrs() == ["2001:db8:1::81"], "only the public AAAA record is relayed", r)
    ev = want_event(ng, m, "dns.allow", name="mixed.lab.test", type="A")
    check(ev[0].get("addrs") == "192.0.2.81", "dns.allow names only the public address", ev[0]["_line"])
    removed_logged(ng, m, "mixed.lab.test", "A", ["10.0.0.1", GW4])
    removed_logged(ng, m, "mixed.lab.test", "AAAA", ["fd00::1"])
    want_connect("192.0.2.81", 443)
    want_connect("2001:db8:1::81", 443)
    want_refused(GW4, 443)
    r = dig("rebindsvc.lab.test", "HTTPS")
    check(r.status == "NOERROR" and not [a for a in r.answers if a[2] == "HTTPS"],
          "an HTTPS record with an inward hint is not relayed", r)
    removed_logged(ng, m, "rebindsvc.lab.test", "HTTPS", ["10.0.0.1"])
    none_in_sets(["10.0.0.1", GW4, "fd00::1", "192.0.2.82"])
    want_refused("192.0.2.82", 443)


@test("66.inward.opt-in")
def t_optin(t):
    """"inward" on a name's line allows its inward answers, on that line's
    ports only; other names under a wider pattern are still filtered."""
    ng = t.namegate(allow=BASE_ALLOW + ["domain = neighbour.lab.test tcp/8080 inward", "domain = *.lab.test"])
    m = ng.mark()
    want_answer("neighbour.lab.test", "A", GW4)
    want_answer("neighbour.lab.test", "AAAA", GW6)
    want_connect(GW4, 8080)
    want_connect(GW6, 8080)
    # *.lab.test gives the name tcp/443 and tcp/80 too, but not for its
    # inward addresses
    want_refused(GW4, 443)
    want_event(ng, m, "flow.deny", dst=GW4, dport=443, reason="port", name="neighbour.lab.test")
    have = set_ips()
    check(GW4 in have, "the opted-in address is in the set", sorted(have))
    no_event(ng, m, "dns.filtered", name="neighbour.lab.test")
    # the opt-in is per name: mixed.lab.test (under *.lab.test) is filtered
    r = want_answer("mixed.lab.test", "A", "192.0.2.81")
    check(r.addrs() == ["192.0.2.81"], "the wildcard line did not opt in", r)


@test("66b.inward.single-label-neighbour")
def t_db(t):
    """A compose neighbour: a single-label name ("db") that answers the
    container's own subnet is reached only with "inward"; adding the
    opt-in by an edit allows it, taking it away takes the address back at
    once."""
    ng = t.namegate(allow=BASE_ALLOW + ["domain = db tcp/443"])
    m = ng.mark()
    r = dig("db")
    check(r.status == "NOERROR" and not r.addrs(), "without inward, db answers no address", r)
    removed_logged(ng, m, "db", "A", [GW4])
    want_refused(GW4, 443)
    none_in_sets([GW4])
    for line, allowed in (("domain = db tcp/443 inward", True), ("domain = db tcp/443", False)):
        m = ng.mark()
        ng.write_conf(re.sub(r"^domain = db .*$", line, ng.conf_text, flags=re.M), how="rename")
        want_event(ng, m, "config.load", timeout=6, count=2)
        if allowed:
            want_answer("db", "A", GW4)
            want_connect(GW4, 443)
            want_refused(GW4, 80)
            continue
        want_refused(GW4, 443)
        check(wait_until(lambda: dig("db").status == "NOERROR" and not dig("db").addrs(), 3),
              "without inward again, db answers no address", dig("db"))
        none_in_sets([GW4])
        want_refused(GW4, 443)


@test("67.inward.network-line")
def t_network(t):
    """A network = line still allows an inward network (no DNS involved)."""
    ng = t.namegate(allow=BASE_ALLOW + ["network = 198.18.0.0/24 tcp/8080", "network = 2001:db8:ff::/64 tcp/8080"])
    want_connect(GW4, 8080)
    want_connect(GW6, 8080)
    want_refused(GW4, 443)


# common/gateipc.h: GATEIPC_VERSION
GATEIPC_VERSION = int(re.search(r"#define GATEIPC_VERSION (\d+)",
                                open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common",
                                                  "gateipc.h")).read()).group(1))


def gate_allow(sock, name, ips, qid=7, ttl=300):
    """One ALLOW on the gate socket (common/gateipc.h), as the resolver would
    send it; returns the ACK status."""
    addrs = b""
    for ip in ips:
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        raw = socket.inet_pton(fam, ip)
        addrs += struct.pack("=B3x16s", fam, raw.ljust(16, b"\0"))
    msg = struct.pack("=HHIIHH256s", 1, GATEIPC_VERSION, qid, ttl, len(ips), 0, name.encode()) + addrs
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(3)
        s.connect(sock)
        s.send(msg)
        ack = s.recv(64)
    typ, ver, aid, status = struct.unpack("=HHII", ack[:12])
    check(typ == 2 and aid == qid, "ACK for the ALLOW", ack)
    return status


@test("68.inward.gate-refuses")
def t_gate(t):
    """The gate does not trust the resolver: an ALLOW for a listed name that
    carries an inward address (a fixed range, or the container's own subnet
    as read from the kernel) is refused whole; nothing of it enters the
    sets."""
    ng = t.namegate()
    m = ng.mark()
    for ip in ("10.0.0.1", "169.254.169.254", GW4, "198.18.0.3", "fd00::1", GW6, "::ffff:10.0.0.1"):
        st = gate_allow(ng.sock, "www.lab.test", ["192.0.2.10", ip])
        check(st == 1, "ALLOW www.lab.test %s must be refused (status 1), got %d" % (ip, st))
    check(wait_until(lambda: any("is inward" in e.get("msg", "") for e in ng.events(m, "daemon")), 2),
          "the gate says why", ng.log_tail())
    none_in_sets(["192.0.2.10", "10.0.0.1", GW4, "198.18.0.3", "fd00::1", GW6])
    want_refused(GW4, 443)
    want_refused("192.0.2.10", 443)


@test("68b.inward.gate-opt-in")
def t_gate_optin(t):
    """With "inward" on the name's line the gate takes the inward address,
    on that line's ports only."""
    ng = t.namegate(allow=BASE_ALLOW + ["domain = neighbour.lab.test tcp/8080 inward"])
    st = gate_allow(ng.sock, "neighbour.lab.test", [GW4, "192.0.2.10"])
    check(st == 0, "ALLOW for the opted-in name is accepted, got %d" % st)
    want_connect(GW4, 8080)
    want_connect("192.0.2.10", 8080)


@test("69.inward.network-change")
def t_netchange(t):
    """The container's networks change while namegate runs (docker network
    connect): the gate sees it at once, takes back what it allowed, and
    refuses answers into the new network; the resolver, which may not read
    netlink any more, gets SERVFAIL for them. When the network goes, the
    name works again."""
    ng = t.namegate(allow=BASE_ALLOW + ["cdn.lab.test"])
    want_answer("cdn.lab.test", "A", "203.0.113.20")
    want_connect("203.0.113.20", 443)
    m = ng.mark()
    lab.run(["ip", "addr", "add", "203.0.113.21/28", "dev", "ngv-sbx"], ns=lab.SBX)
    check(wait_until(lambda: any("networks changed" in e.get("msg", "") for e in ng.events(m, "daemon")), 3),
          "the gate saw the new network", ng.log_tail())
    none_in_sets(["203.0.113.20"])
    want_refused("203.0.113.20", 443)
    # the gate dropped the resolver's connection (it reconnects within a
    # second or so: gate-unavailable until then); never an address
    seen = []

    def refused_by_gate():
        r = dig("cdn.lab.test")
        seen.append(r)
        check(r.status == "SERVFAIL" and not r.addrs(), "an answer into the new network is refused", r)
        return ng.events(m, "dns.error", name="cdn.lab.test", error="gate-refused")
    check(wait_until(refused_by_gate, 5, 0.2), "the gate refused the answer (dns.error error=gate-refused)",
          seen[-1], *[e["_line"] for e in ng.events(m, "dns.error")])
    none_in_sets(["203.0.113.20"])
    want_refused("203.0.113.20", 443)
    m = ng.mark()
    lab.run(["ip", "addr", "del", "203.0.113.21/28", "dev", "ngv-sbx"], ns=lab.SBX)
    check(wait_until(lambda: any("networks changed" in e.get("msg", "") for e in ng.events(m, "daemon")), 3),
          "the gate saw the network go", ng.log_tail())
    check(wait_until(lambda: "203.0.113.20" in dig("cdn.lab.test").addrs(), 3), "cdn.lab.test answers again",
          dig("cdn.lab.test"))
    want_connect("203.0.113.20", 443)
