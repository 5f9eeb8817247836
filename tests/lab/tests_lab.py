"""The lab tests. Each test gets a fresh sandbox namespace and its own
namegate (config, socket, log), so none depends on another or on order."""
import os
import re
import signal
import subprocess
import time

import lab
from lab import Fail, Skip, AGENT_UID, dig, connect, client, ipset_entry, ipset_members, run, wait_until

TESTS = []

READY = "mx.lab.test"  # every config allows it; the readiness probe asks for it
BASE_ALLOW = [
    "www.lab.test",
    "v6only.lab.test",
    "v4only.lab.test",
    "domain = ssh.lab.test tcp/22",
    "domain = quic.lab.test udp/443",
    "alias.lab.test",
    "svc.lab.test",
    "short.lab.test",
    "mail.lab.test",
    "cold.lab.test",
]


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


class T:
    """Per-test context: namegate instances to stop, and diagnostics on failure."""

    def __init__(self, lab_, name):
        self.lab = lab_
        self.name = name
        self.ngs = []
        self.procs = []

    def namegate(self, allow=None, resolver=None, gate=None, logsec=None, start=True, ready=READY, fresh=True,
                 extra=""):
        if fresh:
            self.lab.fresh_sbx()
        allow = list(BASE_ALLOW if allow is None else allow)
        if ready and ready not in allow:
            allow.append(ready)
        ng = lab.Namegate(self.lab, self.name, lab.ini(allow, resolver, gate, logsec, extra))
        self.ngs.append(ng)
        if start:
            ng.setup()
            ng.start(ready)
        return ng

    def bg(self, name, cmd, ns=lab.SBX):
        p = lab.Proc(name, cmd, os.path.join(self.lab.dir, "%s.%d.out" % (name, len(self.procs))), ns=ns)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            p.stop()
        for ng in self.ngs:
            try:
                ng.close()
            except Fail:
                pass

    def diag(self):
        return "\n".join(ng.diag() for ng in self.ngs)


def check(cond, msg, *evidence):
    if not cond:
        raise Fail(msg + "".join("\n    " + str(e) for e in evidence))


def want_connect(host, port, proto="tcp", max_ms=500):
    r = connect(host, port, proto)
    check(r["outcome"] == "connected", "%s %s:%s should connect" % (proto, host, port), r)
    check(r["ms"] < max_ms, "%s %s:%s connected but slowly" % (proto, host, port), r)
    if proto == "tcp":
        check(r.get("banner") and r.get("echo"), "%s %s:%s connected but no data exchanged" % (proto, host, port), r)
    return r


def want_refused(host, port, proto="tcp", max_ms=1000):
    """on_deny = reject: connect() fails at once."""
    r = connect(host, port, proto, timeout=2)
    if proto == "tcp":
        check(r["outcome"] == "refused", "tcp %s:%s should be refused (ECONNREFUSED)" % (host, port), r)
    else:
        check(r["outcome"] in ("unreachable", "eperm", "refused"), "udp %s:%s should fail at once" % (host, port), r)
    check(r["ms"] < max_ms, "%s %s:%s refused, but only after %s ms" % (proto, host, port, r["ms"]), r)
    return r


def want_blocked(host, port, proto="tcp", timeout=1.5):
    """Any failure (drop: timeout) but never a connection."""
    r = connect(host, port, proto, timeout=timeout)
    check(r["outcome"] != "connected", "%s %s:%s must not connect" % (proto, host, port), r)
    return r


def want_answer(name, qtype="A", addr=None, **kw):
    r = dig(name, qtype, **kw)
    check(r.status == "NOERROR", "dig %s %s: want NOERROR" % (name, qtype), r)
    if addr:
        check(addr in r.addrs() or any(addr in a[3] for a in r.answers),
              "dig %s %s: want %s in the answer" % (name, qtype, addr), r)
    return r


def want_event(ng, since, event, timeout=3, count=1, **match):
    ev = ng.wait_event(since, event, timeout=timeout, count=count, **match)
    if not ev:
        got = [e["_line"] for e in ng.events(since) if e.get("event", "").split(".")[0] == event.split(".")[0]]
        raise Fail("no log line event=%s %s (x%d); lines of that kind since the step:\n    %s" % (
            event, " ".join("%s=%s" % kv for kv in match.items()), count, "\n    ".join(got[-8:]) or "(none)"))
    return ev


def no_event(ng, since, event, **match):
    ev = ng.events(since, event, **match)
    check(not ev, "unexpected log line event=%s" % event, *[e["_line"] for e in ev])


# ------------------------------------------------------------------ tests

@test("lab.selfcheck")
def t_selfcheck(t):
    """The lab itself, without namegate: the upstream answers everything the
    tests rely on, and the addresses the deny tests use are reachable (so a
    gate that lets them through fails those tests)."""
    t.lab.fresh_sbx()
    up = lab.UPSTREAM4
    want_answer("www.lab.test", "A", "192.0.2.10", server=up)
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10", server=up)
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10", server=lab.UPSTREAM6, tcp=True)
    r = want_answer("alias.lab.test", "A", "203.0.113.20", server=up)
    check([a[2] for a in r.answers] == ["CNAME", "CNAME", "A"], "alias chain shape", r)
    r = want_answer("svc.lab.test", "HTTPS", server=up)
    check("ipv4hint=192.0.2.40" in r.out and "ipv6hint=2001:db8:1::40" in r.out, "svc HTTPS hints", r)
    check(not dig("svc.lab.test", "A", server=up).addrs(), "svc must have no A record")
    r = want_answer("short.lab.test", "A", "192.0.2.30", server=up)
    check(r.answers[0][1] <= 2, "short.lab.test TTL <= 2", r)
    want_answer("blocked.lab.test", "A", "192.0.2.99", server=up)
    for host, port in (("192.0.2.99", 443), ("2001:db8:1::99", 443), ("192.0.2.10", 8080), ("203.0.113.20", 22)):
        want_connect(host, port)
    want_connect("192.0.2.10", 443, "udp")
    want_connect("2001:db8:1::10", 443, "udp")
    r = connect("198.51.100.53", 853)
    check(r["outcome"] == "connected", "listener on 853", r)
    r = connect(lab.SILENT_UPSTREAM, 53, "udp", timeout=0.5)
    check(r["outcome"] == "timeout", "the silent upstream must be silent", r)


@test("01.allow.resolve-and-connect")
def t_allow(t):
    ng = t.namegate()
    # nothing handed out yet: denied
    want_refused("192.0.2.10", 443)
    m = ng.mark()
    r = want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    want_connect("192.0.2.10", 80)
    r6 = want_answer("www.lab.test", "AAAA", "2001:db8:1::10")
    want_connect("2001:db8:1::10", 443)
    want_connect("2001:db8:1::10", 80)
    want_answer("v6only.lab.test", "AAAA", "2001:db8:1::11")
    want_connect("2001:db8:1::11", 443)
    want_answer("v4only.lab.test", "A", "192.0.2.11")
    want_connect("192.0.2.11", 80)
    ev = want_event(ng, m, "dns.allow", name="www.lab.test", type="A", client="127.0.0.1", rcode="NOERROR")
    check("192.0.2.10" in ev[0].get("addrs", ""), "dns.allow addrs", ev[0]["_line"])
    check(ev[0].get("ttl", "").isdigit(), "dns.allow ttl", ev[0]["_line"])
    ev = want_event(ng, m, "dns.allow", name="www.lab.test", type="AAAA", rcode="NOERROR")
    check("2001:db8:1::10" in ev[0].get("addrs", ""), "dns.allow addrs (AAAA)", ev[0]["_line"])
    for setname, ip in (("namegate4", "192.0.2.10"), ("namegate6", "2001:db8:1::10")):
        for port in (443, 80):
            e = ipset_entry(setname, ip, "tcp", port)
            check(e is not None, "%s has no entry %s,tcp:%d" % (setname, ip, port), ipset_members(setname))
            check(e["comment"] == "www.lab.test", "%s entry comment is the name" % setname, e)
            check(e["timeout"] is not None and 0 < e["timeout"] <= 300, "%s entry has a timeout <= TTL" % setname, e)
    e = ipset_entry("namegate4", "192.0.2.10", "tcp", 8080)
    check(e is None, "no entry for a port the name does not have", e)


@test("02.deny.other-port")
def t_port(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10")
    m = ng.mark()
    want_refused("192.0.2.10", 8080)
    want_refused("192.0.2.10", 22)
    want_refused("2001:db8:1::10", 8080)
    want_event(ng, m, "flow.deny", proto="tcp", dst="192.0.2.10", dport=8080, uid=AGENT_UID, reason="port",
               name="www.lab.test")
    want_event(ng, m, "flow.deny", proto="tcp", dst="192.0.2.10", dport=22, reason="port", name="www.lab.test")
    want_event(ng, m, "flow.deny", proto="tcp", dst="2001:db8:1::10", dport=8080, reason="port", name="www.lab.test")
    ev = ng.events(m, "flow.deny", dport=8080, dst="192.0.2.10")
    check(ev[0].get("src") == "198.18.0.2", "flow.deny src", ev[0]["_line"])
    # UDP to a tcp-only name
    m = ng.mark()
    want_refused("192.0.2.10", 443, "udp")
    want_event(ng, m, "flow.deny", proto="udp", dst="192.0.2.10", dport=443, reason="port", name="www.lab.test")


@test("03.allow.per-name-ports")
def t_pername(t):
    ng = t.namegate()
    want_answer("ssh.lab.test", "A", "192.0.2.22")
    want_answer("ssh.lab.test", "AAAA", "2001:db8:1::22")
    want_connect("192.0.2.22", 22)
    want_connect("2001:db8:1::22", 22)
    m = ng.mark()
    want_refused("192.0.2.22", 443)
    want_refused("192.0.2.22", 80)
    want_event(ng, m, "flow.deny", dst="192.0.2.22", dport=443, reason="port", name="ssh.lab.test")
    # a udp port on a name
    want_answer("quic.lab.test", "A", "192.0.2.23")
    want_connect("192.0.2.23", 443, "udp")
    want_refused("192.0.2.23", 443, "tcp")


@test("04.deny.off-list-refused")
def t_offlist(t):
    ng = t.namegate(resolver={"deny": "refused"})
    um = t.lab.unbound_mark()
    m = ng.mark()
    for qtype in ("A", "AAAA", "TXT", "HTTPS"):
        r = dig("blocked.lab.test", qtype)
        check(r.status == "REFUSED" and not r.answers, "blocked.lab.test %s: want REFUSED, no answer" % qtype, r)
    for name in ("evilwww.lab.test", "www.lab.test.evil.test", "cdn.lab.test", "lab.test"):
        r = dig(name)
        check(r.status == "REFUSED" and not r.answers, "%s: want REFUSED" % name, r)
    want_event(ng, m, "dns.deny", name="blocked.lab.test", type="A", client="127.0.0.1", rcode="REFUSED")
    want_event(ng, m, "dns.deny", name="blocked.lab.test", type="AAAA", rcode="REFUSED")
    # an allowed, uncached name does reach upstream (the log works) ...
    want_answer("v4only.lab.test", "A", "192.0.2.11")
    check(wait_until(lambda: "v4only.lab.test" in t.lab.unbound_since(um), 2),
          "unbound's query log shows no query for an allowed name: the check below proves nothing")
    # ... the off-list ones never did
    ub = t.lab.unbound_since(um)
    leaked = [ln for ln in ub.splitlines() if re.search(r"blocked\.lab\.test|evilwww|\.evil\.test|cdn\.lab\.test", ln)]
    check(not leaked, "queries for off-list names reached upstream", *leaked)


@test("04b.deny.off-list-nxdomain")
def t_offlist_nx(t):
    ng = t.namegate(resolver={"deny": "nxdomain"})
    m = ng.mark()
    r = dig("blocked.lab.test", "A")
    check(r.status == "NXDOMAIN" and not r.answers, "deny = nxdomain: want NXDOMAIN", r)
    want_event(ng, m, "dns.deny", name="blocked.lab.test", type="A", rcode="NXDOMAIN")
    want_answer("www.lab.test", "A", "192.0.2.10")


@test("05.deny.direct-ip-reject")
def t_direct(t):
    ng = t.namegate()
    m = ng.mark()
    want_refused("192.0.2.99", 443)
    want_refused("2001:db8:1::99", 443)
    want_event(ng, m, "flow.deny", proto="tcp", dst="192.0.2.99", dport=443, uid=AGENT_UID, reason="unresolved")
    want_event(ng, m, "flow.deny", proto="tcp", dst="2001:db8:1::99", dport=443, uid=AGENT_UID, reason="unresolved")
    ev = ng.events(m, "flow.deny", dst="192.0.2.99")
    check("name" not in ev[0], "no name on an unresolved address", ev[0]["_line"])


@test("05b.deny.direct-ip-drop")
def t_direct_drop(t):
    ng = t.namegate(gate={"on_deny": "drop"})
    m = ng.mark()
    r = connect("192.0.2.99", 443, timeout=1.5)
    check(r["outcome"] == "timeout", "on_deny = drop: a direct connection should time out", r)
    r = connect("2001:db8:1::99", 443, timeout=1.5)
    check(r["outcome"] == "timeout", "on_deny = drop: a direct v6 connection should time out", r)
    want_event(ng, m, "flow.deny", proto="tcp", dst="192.0.2.99", dport=443, uid=AGENT_UID, reason="unresolved")
    want_event(ng, m, "flow.deny", proto="tcp", dst="2001:db8:1::99", dport=443, reason="unresolved")
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)


NAT_RULE = ["-t", "nat", "-A", "OUTPUT", "-d", "127.0.0.11", "-p", "udp", "--dport", "53",
            "-j", "DNAT", "--to-destination", "127.0.0.11:5353"]


def nat_rule_present():
    return "-A OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:5353" \
        in run(["iptables", "-t", "nat", "-S", "OUTPUT"], ns=lab.SBX).stdout


@test("06.deny.dns-bypass")
def t_dnsbypass(t):
    t.lab.fresh_sbx()
    # Docker's embedded DNS: a DNAT from 127.0.0.11:53 to a listener on another port
    run(["iptables"] + NAT_RULE, ns=lab.SBX)
    fake = t.bg("fakedns", ["python3", "-u", os.path.join(lab.HERE, "listener.py"), "fakedns", "127.0.0.11", "5353"])
    check(wait_until(lambda: "ready" in fake.tail(), 5), "fake DNS listener did not start", fake.tail())
    # baseline without namegate: every one of these works for the agent
    check(dig("x.lab.test", server="127.0.0.11").status == "NOERROR", "baseline: fake Docker DNS answers")
    check(dig("www.lab.test", server=lab.UPSTREAM4).status == "NOERROR", "baseline: upstream answers")
    ng = t.namegate(fresh=False)
    check(nat_rule_present(), "Docker's nat rule is gone after --setup",
          run(["iptables", "-t", "nat", "-S"], ns=lab.SBX).stdout)
    m = ng.mark()
    cases = [
        ("udp @198.51.100.53", dict(server=lab.UPSTREAM4)),
        ("tcp @198.51.100.53", dict(server=lab.UPSTREAM4, tcp=True)),
        ("udp @198.51.100.54", dict(server=lab.AUTH4)),
        ("udp @2001:db8:53::53", dict(server=lab.UPSTREAM6)),
        ("tcp @2001:db8:53::53", dict(server=lab.UPSTREAM6, tcp=True)),
        ("udp @127.0.0.11 (Docker DNAT)", dict(server="127.0.0.11")),
    ]
    for what, kw in cases:
        r = dig("www.lab.test", timeout=1, **kw)
        check(r.status is None, "agent DNS %s must fail" % what, r)
        check(r.ms < 1500, "agent DNS %s should fail fast (reject)" % what, r)
    r = connect(lab.UPSTREAM4, 853)
    check(r["outcome"] != "connected", "agent tcp/853 (DNS over TLS) to upstream must fail", r)
    for dst in (lab.UPSTREAM4, lab.AUTH4, lab.UPSTREAM6, "127.0.0.11"):
        want_event(ng, m, "flow.deny", dst=dst, uid=AGENT_UID, reason="dns")
    want_event(ng, m, "flow.deny", dst=lab.UPSTREAM4, dport=853, reason="dns")
    # the local resolver still works for the agent, over UDP and TCP
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("www.lab.test", "A", "192.0.2.10", tcp=True)
    ng.stop()
    p = ng.teardown()
    check(p.returncode == 0, "--teardown failed", p.stdout + p.stderr)
    check(nat_rule_present(), "Docker's nat rule is gone after --teardown",
          run(["iptables", "-t", "nat", "-S"], ns=lab.SBX).stdout)


@test("07.allow.cname-chain")
def t_cname(t):
    ng = t.namegate()
    want_refused("203.0.113.20", 443)
    r = want_answer("alias.lab.test", "A", "203.0.113.20")
    check([a[2] for a in r.answers] == ["CNAME", "CNAME", "A"], "the chain is relayed", r)
    want_connect("203.0.113.20", 443)
    e = ipset_entry("namegate4", "203.0.113.20", "tcp", 443)
    check(e is not None and e["comment"] == "alias.lab.test", "set entry for the chain's address named alias.lab.test",
          e, ipset_members("namegate4"))
    want_answer("alias.lab.test", "AAAA", "2001:db8:2::20")
    want_connect("2001:db8:2::20", 443)
    r = dig("cdn.lab.test")
    check(r.status == "NXDOMAIN", "the chain's target is not itself on the list", r)


@test("08.allow.https-hints")
def t_https(t):
    ng = t.namegate()
    m = ng.mark()
    want_refused("192.0.2.40", 443)
    want_refused("2001:db8:1::40", 443)
    want_event(ng, m, "flow.deny", dst="192.0.2.40", reason="unresolved")
    r = want_answer("svc.lab.test", "HTTPS")
    check("ipv4hint=192.0.2.40" in r.out, "HTTPS answer relayed with its hints", r)
    want_connect("192.0.2.40", 443)
    want_connect("2001:db8:1::40", 443)
    e = ipset_entry("namegate4", "192.0.2.40", "tcp", 443)
    check(e is not None and e["comment"] == "svc.lab.test", "ipv4hint in the set as svc.lab.test", e)
    e = ipset_entry("namegate6", "2001:db8:1::40", "tcp", 443)
    check(e is not None and e["comment"] == "svc.lab.test", "ipv6hint in the set as svc.lab.test", e)


@test("09.ttl.expiry")
def t_ttl(t):
    ng = t.namegate(resolver={"min_ttl": 1})
    r = want_answer("short.lab.test", "A", "192.0.2.30")
    check(r.answers[0][1] <= 2, "TTL relayed (<= 2)", r)
    want_connect("192.0.2.30", 443)
    # an established connection, held open past the TTL
    held = t.bg("held", ["setpriv", "--reuid", str(AGENT_UID), "--regid", str(AGENT_UID), "--clear-groups",
                         "python3", "-u", os.path.join(lab.HERE, "client.py"), "tcp", "192.0.2.30", "80",
                         "--hold", "4.5"])
    check(wait_until(lambda: '"connected"' in held.tail(), 3), "held connection did not connect", held.tail())
    check(wait_until(lambda: ipset_entry("namegate4", "192.0.2.30", "tcp", 443) is None, 6, 0.2),
          "set entry did not expire", ipset_entry("namegate4", "192.0.2.30", "tcp", 443))
    m = ng.mark()
    want_refused("192.0.2.30", 443)
    want_event(ng, m, "flow.deny", dst="192.0.2.30", dport=443, reason="expired", name="short.lab.test")
    check(wait_until(lambda: "after-hold" in held.tail(), 6), "held client did not finish", held.tail())
    check('"echo": true' in held.tail(), "the established connection did not survive the TTL", held.tail())
    want_answer("short.lab.test", "A", "192.0.2.30")
    want_connect("192.0.2.30", 443)


def conf_lines(ng, *lines):
    """The current config text with lines appended to [allow] (the last section)."""
    return ng.conf_text.rstrip("\n") + "\n" + "".join(ln + "\n" for ln in lines)


@test("10.reload.adds-name")
def t_reload(t):
    ng = t.namegate()
    check(dig("new1.lab.test").status == "NXDOMAIN", "new1 off the list before the edit")
    want_refused("192.0.2.51", 443)
    for how, name, ip in (("inplace", "new1.lab.test", "192.0.2.51"), ("rename", "new2.lab.test", "192.0.2.52")):
        m = ng.mark()
        ng.write_conf(conf_lines(ng, "domain = " + name), how=how)
        ev = want_event(ng, m, "config.load", timeout=6, count=2)
        check(all(e.get("file") == ng.conf for e in ev), "config.load file=", *[e["_line"] for e in ev])
        no_event(ng, m, "config.error")
        r = wait_until(lambda: dig(name).status == "NOERROR", 2)
        check(r, "edit (%s): %s should resolve after config.load" % (how, name), dig(name))
        want_answer(name, "A", ip)
        want_connect(ip, 443)
        check(ng.nfq.alive() and ng.resolver.alive(), "daemons kept running")
    # SIGHUP: both reload
    m = ng.mark()
    ng.nfq.send(signal.SIGHUP)
    ng.resolver.send(signal.SIGHUP)
    want_event(ng, m, "config.load", timeout=3, count=2)
    want_answer("new2.lab.test", "A", "192.0.2.52")
    want_answer("www.lab.test", "A", "192.0.2.10")


@test("10b.reload.removed-name-revoked")
def t_reload_remove(t):
    """Taking a name off the list takes its addresses back at once; names
    still listed are allowed again on their next lookup."""
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("alias.lab.test", "A", "203.0.113.20")
    want_connect("192.0.2.10", 443)
    want_connect("203.0.113.20", 443)
    m = ng.mark()
    text = "".join(ln for ln in ng.conf_text.splitlines(True) if ln.strip() != "domain = www.lab.test")
    check(text != ng.conf_text, "the test config has no www.lab.test line to remove")
    ng.write_conf(text, how="rename")
    want_event(ng, m, "config.load", timeout=6, count=2)
    check(wait_until(lambda: any("allowlist shrank" in e.get("msg", "") for e in ng.events(m, "daemon")), 3),
          "the gate says it took the allowed addresses back", ng.log_tail())
    want_refused("192.0.2.10", 443)
    check(wait_until(lambda: dig("www.lab.test").status == "NXDOMAIN", 3), "www.lab.test is off the list now",
          dig("www.lab.test"))
    want_refused("203.0.113.20", 443)
    want_answer("alias.lab.test", "A", "203.0.113.20")
    want_connect("203.0.113.20", 443)
    want_refused("192.0.2.10", 443)


@test("11.reload.invalid-edit-refused")
def t_badedit(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    good = ng.conf_text
    for what, line in (("unknown key", "colour = blue"), ("bad pattern", "domain = www..lab.test")):
        text = good.rstrip("\n") + "\ndomain = new9.lab.test\n" + line + "\n"
        lineno = text.count("\n")
        m = ng.mark()
        ng.write_conf(text, how="inplace")
        ev = want_event(ng, m, "config.error", timeout=6, count=2, line=lineno)
        check(all(e.get("file") == ng.conf for e in ev), "config.error file=", *[e["_line"] for e in ev])
        check(all(e.get("error") for e in ev), "config.error error=", *[e["_line"] for e in ev])
        no_event(ng, m, "config.load")
        r = dig("new9.lab.test")
        check(r.status == "NXDOMAIN", "%s: the bad edit must not be applied" % what, r)
        want_answer("www.lab.test", "A", "192.0.2.10")
        want_connect("192.0.2.10", 443)
        check(ng.nfq.alive() and ng.resolver.alive(), "daemons kept running")


def ipset_terse():
    """ipset list -t without the hash seed and memory size (a set refilled by
    swap, like namegate-net4, gets a new seed)."""
    out = run(["ipset", "list", "-t"], ns=lab.SBX).stdout
    out = re.sub(r" initval 0x[0-9a-f]+", "", out)
    return re.sub(r"(?m)^Size in memory: .*\n", "", out)


@test("12.setup.idempotent-teardown")
def t_setup(t):
    t.lab.fresh_sbx()
    sb = lab.SBX
    # foreign state that must survive
    run(["iptables", "-A", "OUTPUT", "-d", "198.51.100.200/32", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"], ns=sb)
    run(["ip6tables", "-A", "OUTPUT", "-d", "2001:db8:9::9/128", "-p", "tcp", "--dport", "9", "-j", "ACCEPT"], ns=sb)
    run(["ipset", "create", "nglab-foreign", "hash:ip"], ns=sb)
    before4, before6 = lab.rules_save(4), lab.rules_save(6)
    ng = t.namegate(fresh=False)
    want_answer("www.lab.test", "A", "192.0.2.10")
    check(ipset_entry("namegate4", "192.0.2.10", "tcp", 443), "entry after a dig")
    s4, s6, sets = lab.rules_save(4), lab.rules_save(6), ipset_terse()
    p = ng.cmd("nfq", "--setup")
    check(p.returncode == 0, "second --setup failed", p.stdout + p.stderr)
    a4, a6, asets = lab.rules_save(4), lab.rules_save(6), ipset_terse()
    check(a4 == s4, "iptables filter table changed by a second --setup", "before:\n" + s4, "after:\n" + a4)
    check(a6 == s6, "ip6tables filter table changed by a second --setup", "before:\n" + s6, "after:\n" + a6)
    check(asets == sets, "ipset list -t changed by a second --setup", "before:\n" + sets, "after:\n" + asets)
    for fam, txt in ((4, a4), (6, a6)):
        jumps = [ln for ln in txt.splitlines() if ln.startswith("-A OUTPUT") and "NAMEGATE" in ln]
        check(len(jumps) == 1, "IPv%d: want exactly one jump from OUTPUT" % fam, *jumps)
    check(ipset_entry("namegate4", "192.0.2.10", "tcp", 443), "entries kept across --setup", ipset_members("namegate4"))
    want_connect("192.0.2.10", 443)
    ng.stop()
    p = ng.teardown()
    check(p.returncode == 0, "--teardown failed", p.stdout + p.stderr)
    t4, t6 = lab.rules_save(4), lab.rules_save(6)
    check("NAMEGATE" not in t4 and "NAMEGATE" not in t6, "chains left after --teardown", t4, t6)
    sets = run(["ipset", "list", "-n"], ns=sb).stdout.split()
    check(not [s for s in sets if s.startswith("namegate")], "sets left after --teardown", sets)
    check("nglab-foreign" in sets, "a foreign set was removed", sets)
    check("198.51.100.200/32" in t4 and "2001:db8:9::9/128" in t6, "a foreign rule was removed", t4, t6)
    check(t4 == before4, "IPv4 filter table not restored by --teardown", "before:\n" + before4, "after:\n" + t4)
    check(t6 == before6, "IPv6 filter table not restored by --teardown", "before:\n" + before6, "after:\n" + t6)


@test("13.fail-closed.gate-killed")
def t_killed(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    ng.nfq.stop(signal.SIGKILL)
    r = connect("192.0.2.99", 443, timeout=1.5)
    check(r["outcome"] != "connected", "gate dead: a flow outside the set must not be accepted", r)
    r = connect("192.0.2.10", 8080, timeout=1.5)
    check(r["outcome"] != "connected", "gate dead: a port outside the set must not be accepted", r)
    m = ng.mark()
    r = dig("cold.lab.test", timeout=3)
    check(r.status == "SERVFAIL" and not r.answers, "gate dead: an uncached allowed name must get SERVFAIL", r)
    check(ng.resolver.alive(), "the resolver survives the gate's death", ng.resolver.tail())
    want_event(ng, m, "dns.error", name="cold.lab.test")
    t0 = time.monotonic()
    ng.start_nfq()
    ok = wait_until(lambda: dig("cold.lab.test", timeout=1).status == "NOERROR", 5, 0.1)
    check(ok, "after the gate restarted, the resolver did not recover within 5 s", dig("cold.lab.test"))
    lab.log("    (resolver recovered %.1f s after the gate restarted)" % (time.monotonic() - t0))
    want_connect("192.0.2.61", 443)


@test("14.audit.mode")
def t_audit(t):
    ng = t.namegate(gate={"mode": "audit"})
    m = ng.mark()
    want_connect("192.0.2.99", 443)
    want_event(ng, m, "flow.audit", proto="tcp", dst="192.0.2.99", dport=443, uid=AGENT_UID, reason="unresolved")
    no_event(ng, m, "flow.deny")
    r = want_answer("blocked.lab.test", "A", "192.0.2.99")
    want_event(ng, m, "dns.audit", name="blocked.lab.test", type="A")
    no_event(ng, m, "dns.deny")


@test("15.resolver.no-capabilities")
def t_caps(t):
    if t.lab.ng_uid is None:
        raise Fail("no user 'namegate' on this machine")
    ng = t.namegate()
    with open("/proc/%d/status" % ng.resolver.pid) as f:
        st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    st = {k: v.strip() for k, v in st.items()}
    check("resolv" in st.get("Name", ""), "the pid is the resolver", st.get("Name"))
    for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        check(int(st.get(k, "1"), 16) == 0, "%s must be 0" % k, "%s: %s" % (k, st.get(k)))
    uids = st.get("Uid", "").split()
    check(uids and all(int(u) == t.lab.ng_uid for u in uids), "resolver uids (real, effective, saved, fs) = namegate",
          "Uid: %s  namegate=%d" % (st.get("Uid"), t.lab.ng_uid))
    gids = st.get("Gid", "").split()
    check(gids and all(int(g) != 0 for g in gids), "resolver gids are not root", "Gid: " + st.get("Gid", ""))
    check(st.get("Groups", "") in ("", ) or "0" not in st.get("Groups", "").split(), "no root supplementary group",
          "Groups: " + st.get("Groups", ""))
    check(st.get("NoNewPrivs") == "1", "NoNewPrivs must be 1", "NoNewPrivs: %s" % st.get("NoNewPrivs"))
    want_answer("www.lab.test", "A", "192.0.2.10")  # and it still works


@test("15b.gate.socket-private")
def t_sockpriv(t):
    """Only root and the resolver's user may talk to the gate: the agent can
    neither connect to its socket nor get an ALLOW through."""
    ng = t.namegate()
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
        "s.settimeout(2)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as e:\n"
        "    print('denied', e.errno); sys.exit(0)\n"
        "try:\n"
        "    s.send(b'\\x01\\x00\\x01\\x00' + b'\\x00' * 64)\n"
        "    d = s.recv(64)\n"
        "    print('closed' if not d else 'answered', d.hex())\n"
        "except OSError as e:\n"
        "    print('closed', e.errno)\n"
    )
    p = run(["python3", "-c", code, ng.sock], ns=lab.SBX, uid=AGENT_UID, check=False)
    check(p.stdout.startswith(("denied", "closed")), "the agent reached the gate socket", p.stdout, p.stderr)
    st = os.stat(os.path.dirname(ng.sock))
    check(st.st_mode & 0o007 == 0, "the socket's directory is not open to others", oct(st.st_mode))
    want_answer("www.lab.test", "A", "192.0.2.10")


@test("20.log.json")
def t_json(t):
    ng = t.namegate(logsec={"format": "json"})
    m = ng.mark()
    want_answer("www.lab.test", "A", "192.0.2.10")
    dig("blocked.lab.test")
    want_refused("192.0.2.99", 443)
    want_event(ng, m, "dns.allow", name="www.lab.test", type="A")
    want_event(ng, m, "dns.deny", name="blocked.lab.test")
    want_event(ng, m, "flow.deny", dst="192.0.2.99", reason="unresolved")
    import json
    with open(ng.logfile) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    bad = []
    for ln in lines:
        try:
            d = json.loads(ln)
            if not (isinstance(d, dict) and d.get("ts") and d.get("level") and d.get("event")):
                bad.append(ln)
        except ValueError:
            bad.append(ln)
    check(lines and not bad, "every log line is a JSON object with ts, level, event", *bad[:5])
    d = [json.loads(ln) for ln in lines if '"dns.allow"' in ln and '"www.lab.test"' in ln][0]
    check("192.0.2.10" in str(d.get("addrs")) and str(d.get("ttl")).isdigit(), "dns.allow fields in JSON", d)


@test("16a.check-config.good")
def t_checkconfig(t):
    d = t.lab.new_dir("checkconfig")
    good = os.path.join(d, "good.ini")
    with open(good, "w") as f:
        f.write(lab.ini(["www.lab.test", "domain = ssh.lab.test tcp/22", "network = 192.0.2.0/24 tcp/5432"],
                        gate={"socket": os.path.join(d, "gate.sock")}, logsec={"file": os.path.join(d, "x.log")}))
    for b in (t.lab.nfq_bin, t.lab.resolver_bin):
        p = run([b, "-c", good, "--check-config"], ns=lab.SBX, check=False)
        name = os.path.basename(b)
        check(p.returncode == 0, "%s --check-config of a good file: exit 0" % name, p.returncode, p.stdout, p.stderr)
        out = p.stdout
        for pat in (r"\[resolver\]", r"\[gate\]", r"\[allow\]", r"www\.lab\.test", r"ssh\.lab\.test.*tcp/22",
                    r"min_ttl\s*=\s*60", r"deny\s*=\s*nxdomain", r"192\.0\.2\.0/24"):
            check(re.search(pat, out), "%s --check-config prints the effective config (%s)" % (name, pat), out)
        # the printout is itself a valid config
        again = os.path.join(d, "printed-%s.ini" % name)
        with open(again, "w") as f:
            f.write(out)
        p2 = run([b, "-c", again, "--check-config"], ns=lab.SBX, check=False)
        check(p2.returncode == 0, "%s: its own printout does not load" % name, p2.stdout + p2.stderr)


@test("16b.check-config.bad")
def t_checkconfig_bad(t):
    d = t.lab.new_dir("checkconfig-bad")
    head = "[resolver]\nupstream = 198.51.100.53\n"
    bad_cases = [  # what, text, acceptable line numbers
        ("unknown key", head + "flavour = mint\n[allow]\ndomain = www.lab.test\n", (3,)),
        ("unknown section with a key", head + "[bogus]\nx = 1\n", (3,)),
        ("unknown empty section", head + "[allow]\ndomain = www.lab.test\n[bogus]\n", (5,)),
        ("bad value", head + "\ndeny = maybe\n", (4,)),
        ("bad pattern", head + "[allow]\ndomain = www.lab.test\ndomain = www..lab.test\n", (5,)),
        ("bad port", head + "[allow]\ndomain = www.lab.test tcp/99999\n", (4,)),
        ("bad network", head + "[allow]\nnetwork = 192.0.2.1/24\n", (4,)),
        ("wildcard listen", "[resolver]\nlisten = 0.0.0.0:53\nupstream = 198.51.100.53\n", (2,)),
    ]
    errors = []
    for what, text, lines in bad_cases:
        bad = os.path.join(d, "bad-%s.ini" % what.replace(" ", "-"))
        with open(bad, "w") as f:
            f.write(text)
        for b in (t.lab.nfq_bin, t.lab.resolver_bin):
            p = run([b, "-c", bad, "--check-config"], ns=lab.SBX, check=False)
            name = os.path.basename(b)
            outp = (p.stdout + p.stderr).strip()
            if p.returncode != 2:
                errors.append("%s --check-config, %s: exit %d, want 2; output: %s" % (
                    name, what, p.returncode, outp[:200].replace("\n", " | ")))
            elif not any("%s:%d: " % (bad, n) in outp for n in lines):
                errors.append("%s --check-config, %s: want '%s:%s: message', got: %s" % (
                    name, what, bad, "|".join(map(str, lines)), outp[:300]))
    check(not errors, "%d of %d bad-config checks failed" % (len(errors), 2 * len(bad_cases)), *errors)


@test("17.upstream.auto")
def t_auto(t):
    t.lab.fresh_sbx()
    d = t.lab.new_dir("resolvconf")
    rc = os.path.join(d, "resolv.conf")
    with open(rc, "w") as f:
        f.write("# lab\nsearch lab.test\nnameserver 127.0.0.1\nnameserver 198.51.100.53\noptions ndots:1\n")
    os.chmod(rc, 0o644)
    ng = t.namegate(resolver={"upstream": "auto", "resolv_conf": rc, "upstream_timeout": 1500}, fresh=False)
    p = ng.cmd("resolver", "--check-config")
    ups = [ln for ln in p.stdout.splitlines() if re.match(r"\s*upstream\s*=", ln)]
    check(not any("127.0.0.1" in ln for ln in ups), "127.0.0.1 (ourselves) must be left out of upstream", *ups)
    m = ng.mark()
    r = want_answer("www.lab.test", "A", "192.0.2.10")
    check(r.ms < 1000, "resolved via the real upstream without waiting on a dead one", r)
    want_connect("192.0.2.10", 443)
    ev = ng.events(m, "dns.allow", name="www.lab.test")
    check(len(ev) == 1, "one query, one dns.allow (no forwarding loop through ourselves)", *[e["_line"] for e in ev])


@test("18.resolver.transports")
def t_transport(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10", tcp=True)
    m = ng.mark()
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10", server="::1")
    want_answer("www.lab.test", "A", "192.0.2.10", server="::1", tcp=True)
    want_event(ng, m, "dns.allow", name="www.lab.test", client="::1")
    r = dig("blocked.lab.test", server="::1", tcp=True)
    check(r.status == "NXDOMAIN", "off-list over [::1] tcp", r)
    for server in ("127.0.0.1", "::1"):
        qs = ["www.lab.test/A", "v4only.lab.test/A", "alias.lab.test/A", "blocked.lab.test/A", "v6only.lab.test/AAAA"]
        res = client("dnstcp", server, 53, *qs)[0]
        check("error" not in res and len(res["answers"]) == len(qs),
              "%d pipelined queries on one TCP connection to %s" % (len(qs), server), res)
        by = {a["id"]: a for a in res["answers"]}
        want = {0x1000: ("NOERROR", "192.0.2.10"), 0x1001: ("NOERROR", "192.0.2.11"),
                0x1002: ("NOERROR", "203.0.113.20"), 0x1003: ("NXDOMAIN", None), 0x1004: ("NOERROR", "2001:db8:1::11")}
        for qid, (rcode, addr) in want.items():
            a = by.get(qid)
            check(a and a["rcode"] == rcode and (addr is None or addr in a["addrs"]),
                  "answer to query id %#x on the shared TCP connection" % qid, a, res)
    want_connect("192.0.2.11", 443)


@test("19.upstream.failover-timeout")
def t_failover(t):
    ng = t.namegate(resolver={"upstream": "%s %s" % (lab.SILENT_UPSTREAM, lab.UPSTREAM4), "upstream_timeout": 500})
    r = want_answer("www.lab.test", "A", "192.0.2.10", timeout=4)
    check(r.ms < 2500, "failover to the second upstream took too long", r)
    want_connect("192.0.2.10", 443)
    ng.close()
    ng2 = t.namegate(resolver={"upstream": lab.SILENT_UPSTREAM, "upstream_timeout": 500}, ready=None)
    m = ng2.mark()
    r = dig("www.lab.test", timeout=4)
    check(r.status == "SERVFAIL" and not r.answers, "only a silent upstream: want SERVFAIL", r)
    check(r.ms < 500 + 1500, "SERVFAIL should come within upstream_timeout + slack", r)
    ev = want_event(ng2, m, "dns.error", name="www.lab.test")
    check(any(lab.SILENT_UPSTREAM in e.get("upstream", "") for e in ev), "dns.error upstream=", *[e["_line"] for e in ev])
    check(any(e.get("error") for e in ev), "dns.error error=", *[e["_line"] for e in ev])


@test("19b.upstream.other-port")
def t_upstream_port(t):
    """An upstream on a port other than 53 is reachable for the resolver
    (and only for it): the rules take the port from the config."""
    ng = t.namegate(resolver={"upstream": "%s:5353" % lab.UPSTREAM4})
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    m = ng.mark()
    r = dig("www.lab.test", server=lab.UPSTREAM4, extra=("-p", "5353"), timeout=1)
    check(r.status is None, "the agent must not reach the upstream on its port either", r)
    want_event(ng, m, "flow.deny", dst=lab.UPSTREAM4, dport=5353, uid=AGENT_UID, reason="dns")


UDP_RECEIVER = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5555))
print("ready", flush=True)
while True:
    data, src = s.recvfrom(512)
    print("got %s from %s:%d" % (data.decode(errors="replace"), src[0], src[1]), flush=True)
"""

UDP_FROM_DNS_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.11", int(sys.argv[1])))
s.sendto(sys.argv[2].encode(), ("127.0.0.1", 5555))
"""


@test("06b.deny.forged-dns-answer")
def t_forged_answer(t):
    """Docker lets any user bind low ports, so the agent can bind Docker's
    DNS address 127.0.0.11:53 and aim forged answers at the resolver's
    upstream socket on loopback. A new flow from a DNS port is never an
    answer (those are ESTABLISHED), so it is denied."""
    t.lab.fresh_sbx()
    run(["sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0"], ns=lab.SBX)
    rx = t.bg("udprx", ["python3", "-u", "-c", UDP_RECEIVER])
    check(wait_until(lambda: "ready" in rx.tail(), 5), "UDP receiver did not start", rx.tail())
    ng = t.namegate(fresh=False)
    m = ng.mark()
    # control: loopback UDP from any other port is delivered, so the check
    # below can tell a delivered datagram from a denied one
    run(["python3", "-c", UDP_FROM_DNS_SERVER, "5300", "control"], ns=lab.SBX, uid=AGENT_UID)
    check(wait_until(lambda: "got control" in rx.tail(), 3), "control datagram not delivered", rx.tail())
    run(["python3", "-c", UDP_FROM_DNS_SERVER, "53", "forged"], ns=lab.SBX, uid=AGENT_UID, check=False)
    want_event(ng, m, "flow.deny", src="127.0.0.11", dport=5555, uid=AGENT_UID, reason="dns")
    check("got forged" not in rx.tail(), "a new flow from 127.0.0.11:53 reached a loopback socket", rx.tail())


@test("21.resolver.no-ipv6")
def t_no_ipv6(t):
    """A container without IPv6 has no ::1: the resolver serves on the
    addresses that exist and says which one it skipped."""
    t.lab.fresh_sbx()
    run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], ns=lab.SBX)
    run(["sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1"], ns=lab.SBX)
    ng = t.namegate(fresh=False)
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    check(any("[::1]:53 does not exist here" in e.get("msg", "") for e in ng.events(0, "daemon")),
          "the skipped listen address is logged", *[e["_line"] for e in ng.events(0, "daemon")][-5:])


# ------------------------------------------------------------------ figures

def measure(lab_):
    """Printed, not asserted: setup-to-first-answer and resolver queries/s."""
    lab_.fresh_sbx()
    ng = lab.Namegate(lab_, "bench", lab.ini(["www.lab.test"]))
    try:
        t0 = time.monotonic()
        ng.setup()
        ng.start_nfq()
        ng.start_resolver()
        ok = wait_until(lambda: dig("www.lab.test", uid=None, timeout=1).status == "NOERROR", 10, 0.01)
        first = (time.monotonic() - t0) * 1000
        lab.log("FIGURE setup-to-first-answer: %s" % ("%.0f ms" % first if ok else "no answer within 10 s"))
        res = client("bench", "127.0.0.1", 53, "www.lab.test", 2, 64, timeout=20)[0]
        lab.log("FIGURE resolver-qps (UDP, one allowed name, 64 outstanding, 2 s): %.0f q/s (sent %d, answered %d, "
                "NOERROR %d)" % (res["qps"], res["sent"], res["answered"], res["noerror"]))
    except Fail as e:
        lab.log("FIGURE measurement failed: %s" % e)
    finally:
        ng.close()
