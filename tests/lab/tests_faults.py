"""The fault matrix: hostile clients, a broken upstream, a full set, dead or
stopped daemons, a broken config, and least privilege. Every case checks
that nothing crashed, that no address is allowed unless it was answered for
an on-list name, that the log says what happened, and that namegate recovers
once the fault ends.

The broken upstream is faultdns.py on 198.51.100.60 in the internet
namespace; a test switches its mode by rewriting its mode file. The hostile
clients are faultclient.py, run in the sandbox as the agent."""
import json
import os
import re
import signal
import time

import lab
from lab import Fail, AGENT_UID, dig, ipset_members, run, wait_until
from tests_lab import BASE_ALLOW, check, test, want_answer, want_connect, want_event, want_refused

FAULT_ADDR = "198.51.100.60"
SPOOF_ADDR = "198.51.100.61"
READY_IP = "192.0.2.25"  # mx.lab.test, which every namegate asks for to see it is up


class FaultDNS:
    """The fault-injecting upstream (one per lab, started on first use)."""

    def __init__(self, lab_):
        d = os.path.join(lab_.dir, "net")
        self.modefile = os.path.join(d, "faultdns.mode")
        self.set("ok")
        self.proc = lab.Proc("faultdns", ["python3", "-u", os.path.join(lab.HERE, "faultdns.py"), FAULT_ADDR,
                                          self.modefile, lab.UPSTREAM4, SPOOF_ADDR],
                             os.path.join(d, "faultdns.out"), ns=lab.NET)
        lab_.procs.append(self.proc)
        if not wait_until(lambda: "ready" in self.proc.tail() or not self.proc.alive(), 5) or not self.proc.alive():
            raise Fail("faultdns.py did not start:\n" + self.proc.tail())

    @classmethod
    def get(cls, lab_):
        fd = getattr(lab_, "faultdns", None)
        if fd is None or not fd.proc.alive():
            fd = lab_.faultdns = cls(lab_)
        fd.set("ok")
        return fd

    def set(self, mode):
        tmp = self.modefile + ".tmp"
        with open(tmp, "w") as f:
            f.write(mode + "\n")
        os.rename(tmp, self.modefile)

    def mark(self):
        return os.path.getsize(self.proc.logpath)

    def queries(self, since=0, pattern=""):
        with open(self.proc.logpath, errors="replace") as f:
            f.seek(since)
            return [ln for ln in f.read().splitlines() if ln.startswith("Q ") and re.search(pattern, ln)]


def fault_ng(t, resolver=None, **kw):
    fd = FaultDNS.get(t.lab)
    r = {"upstream": FAULT_ADDR, "upstream_timeout": 500}
    r.update(resolver or {})
    ng = t.namegate(resolver=r, **kw)
    return ng, fd


def set_ips():
    """Every address in namegate4/6, with the entries it has."""
    ips = {}
    for s in ("namegate4", "namegate6"):
        for m in ipset_members(s) or []:
            ips.setdefault(m["entry"].rsplit(",", 1)[0], []).append(m)
    return ips


def only_allowed(allowed, what):
    """No address in the sets but those answered for on-list names."""
    extra = sorted(set(set_ips()) - set(allowed) - {READY_IP})
    check(not extra, "%s: addresses in the sets that were not answered for an on-list name" % what, extra)


def alive(ng, what):
    for p in (ng.nfq, ng.resolver):
        check(p.alive(), "%s: %s died" % (what, p.name), p.tail())


def error_event(ng, since, name, errors, timeout=3):
    """A dns.error line for name whose error is one of errors."""
    ev = ng.wait_event(since, "dns.error", timeout=timeout, name=name)
    check(ev, "no dns.error for %s" % name, ng.log_tail(8))
    check(any(e.get("error") in errors for e in ev), "dns.error for %s: want error in %s" % (name, errors),
          *[e["_line"] for e in ev])
    return ev


def recover(ng, fd, name="www.lab.test", ip="192.0.2.10"):
    """The fault ends: the same name resolves and connects."""
    fd.set("ok")
    r = wait_until(lambda: dig(name).status == "NOERROR", 3, 0.1)
    check(r, "after the fault ended, %s did not resolve" % name, dig(name))
    want_answer(name, "A", ip)
    want_connect(ip, 443)
    alive(ng, "recovery")


def servfail_case(t, mode, errors, bad=(), resolver=None, ng=None):
    if ng is None:
        ng, fd = fault_ng(t, resolver)
    else:
        fd = FaultDNS.get(t.lab)
    fd.set(mode)
    m, qm = ng.mark(), fd.mark()
    r = dig("www.lab.test", timeout=4)
    check(r.status == "SERVFAIL" and not r.answers, "upstream %s: want SERVFAIL and no answer" % mode, r)
    check(r.ms < 500 + 1500, "upstream %s: SERVFAIL should come within upstream_timeout + slack" % mode, r)
    check(fd.queries(qm, r"www\.lab\.test"), "the query never reached the fault server: the case proves nothing")
    error_event(ng, m, "www.lab.test", errors)
    alive(ng, mode)
    only_allowed([], mode)
    for ip in bad:
        check(ip not in set_ips(), "upstream %s: %s in the sets" % (mode, ip))
    want_refused("192.0.2.10", 443)
    recover(ng, fd)
    return ng, fd


# ------------------------------------------------------------------ upstream faults

@test("30.fault.upstream-silent")
def t_silent(t):
    servfail_case(t, "silent", ("timeout",))


@test("31.fault.upstream-slow")
def t_slow(t):
    ng, fd = servfail_case(t, "slow 1500", ("timeout",))
    # slow, but within upstream_timeout: answered, and allowed
    fd.set("slow 200")
    r = want_answer("v4only.lab.test", "A", "192.0.2.11", timeout=3)
    check(r.ms >= 150, "the slow answer came suspiciously fast", r)
    want_connect("192.0.2.11", 443)
    # the late answer to the timed-out query (cached by now upstream) changed nothing
    only_allowed(["192.0.2.10", "192.0.2.11"], "slow")


def rcode_case(t, mode, rcode):
    ng, fd = fault_ng(t)
    fd.set(mode)
    m = ng.mark()
    r = dig("www.lab.test", timeout=3)
    check(r.status in (rcode, "SERVFAIL") and not r.answers, "upstream %s: want %s (or SERVFAIL), no answer" % (
        mode, rcode), r)
    ev = ng.wait_event(m, None, timeout=3, name="www.lab.test")
    check(any(e.get("event") == "dns.error" or (e.get("event") == "dns.allow" and e.get("rcode") == rcode)
              for e in ev), "upstream %s: no dns.error or dns.allow rcode=%s line" % (mode, rcode),
          *[e["_line"] for e in ev])
    alive(ng, mode)
    only_allowed([], mode)
    want_refused("192.0.2.10", 443)
    recover(ng, fd)


@test("32.fault.upstream-refused")
def t_refused(t):
    rcode_case(t, "refused", "REFUSED")


@test("33.fault.upstream-servfail")
def t_servfail(t):
    rcode_case(t, "servfail", "SERVFAIL")


@test("34.fault.upstream-malformed")
def t_malformed(t):
    servfail_case(t, "malformed", ("malformed", "timeout"), bad=("192.0.2.98",))


@test("35.fault.upstream-truncated-tcp-retry")
def t_truncated(t):
    ng, fd = fault_ng(t)
    fd.set("truncated")
    m, qm = ng.mark(), fd.mark()
    want_answer("www.lab.test", "A", "192.0.2.10", timeout=3)
    q = fd.queries(qm, r"www\.lab\.test")
    check(any(ln.startswith("Q udp") for ln in q) and any(ln.startswith("Q tcp") for ln in q),
          "TC=1 over UDP should be retried over TCP", *q)
    want_event(ng, m, "dns.allow", name="www.lab.test", rcode="NOERROR")
    want_connect("192.0.2.10", 443)
    only_allowed(["192.0.2.10"], "truncated")
    alive(ng, "truncated")


@test("36.fault.upstream-tcp-broken")
def t_tcpbroken(t):
    servfail_case(t, "tcpbroken", ("tcp-failed", "malformed", "tcp-timeout"))


@test("37.fault.upstream-oversized")
def t_oversized(t):
    ng, fd = fault_ng(t, resolver={"max_addrs": 16})
    fd.set("oversized")
    m = ng.mark()
    for tcp in (False, True):
        r = dig("www.lab.test", timeout=3, tcp=tcp)
        check(r.status == "NOERROR", "oversized answer (tcp=%s): want NOERROR with what fits" % tcp, r)
        got = r.addrs("A")
        check(0 < len(got) <= 16, "oversized: at most max_addrs = 16 addresses relayed (tcp=%s)" % tcp, len(got), r)
        ips = set_ips()
        for ip in got:
            check(ip in ips, "a relayed address is not in the set: %s" % ip)
        only_allowed(got, "oversized (tcp=%s)" % tcp)
        want_connect(got[0], 443)
        others = ["203.0.113.%d" % i for i in range(1, 251) if "203.0.113.%d" % i not in got]
        want_refused(others[-1], 443)
    ev = want_event(ng, m, "dns.allow", name="www.lab.test")
    check(all(len(e.get("addrs", "").split(",")) <= 16 for e in ev), "dns.allow addrs", *[e["_line"] for e in ev])
    alive(ng, "oversized")


@test("38.fault.upstream-wrong-id")
def t_wrongid(t):
    servfail_case(t, "wrongid", ("mismatch", "timeout"))


@test("39.fault.upstream-wrong-question")
def t_wrongq(t):
    servfail_case(t, "wrongq", ("mismatch", "timeout"), bad=("192.0.2.99",))
    check(dig("blocked.lab.test").status == "NXDOMAIN", "blocked.lab.test stays off the list")


def udp_noports():
    p = run(["cat", "/proc/net/snmp"], ns=lab.SBX)
    lines = [ln.split() for ln in p.stdout.splitlines() if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("NoPorts")])


@test("40.fault.upstream-wrong-source")
def t_wrongsrc(t):
    # only answers from another address and another port: none is taken
    ng, fd = fault_ng(t)
    n0, m0 = udp_noports(), ng.mark()  # per namespace: counted in this sandbox
    servfail_case(t, "wrongsrc", ("timeout", "mismatch"), bad=("192.0.2.99",), ng=ng)
    # they arrive as new inbound flows, so NAMEGATE-IN drops them before UDP
    # sees them (flow.deny reason=inbound); either way they reached the sandbox
    spoofed = [e for e in ng.events(m0, "flow.deny", reason="inbound") if e.get("src") in (FAULT_ADDR, SPOOF_ADDR)]
    check(udp_noports() >= n0 + 2 or len(spoofed) >= 2,
          "the spoofed answers never reached the sandbox: the case proves nothing", n0, udp_noports(), spoofed)
    # a spoofed answer racing the real one: the real one wins
    fd.set("spoofrace")
    r = want_answer("v4only.lab.test", "A", "192.0.2.11", timeout=3)
    check("192.0.2.99" not in r.addrs(), "the spoofed address reached the client", r)
    check("192.0.2.99" not in set_ips(), "the spoofed address is in the set", set_ips())
    only_allowed(["192.0.2.10", "192.0.2.11"], "spoofrace")
    alive(ng, "spoofrace")


# ------------------------------------------------------------------ hostile clients

def fclient(*args, timeout=30):
    p = run(["python3", os.path.join(lab.HERE, "faultclient.py")] + [str(a) for a in args], ns=lab.SBX,
            uid=AGENT_UID, check=False, timeout=timeout)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Fail("faultclient.py %s: rc %d\n%s%s" % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))


@test("41.fault.flood-off-list")
def t_flood(t):
    ng, fd = fault_ng(t)
    qm, um, lm = fd.mark(), t.lab.unbound_mark(), ng.mark()
    res = fclient("flood", "127.0.0.1", 53, 2, timeout=30)
    lab.log("    (flood: sent %d q/s, answered %d q/s, rcodes %s)" % (res["qps"], res["aps"], res["rcodes"]))
    alive(ng, "flood")
    check(res["sent"] > 20000, "the flood was not much of a flood", res)
    check(res["answered"] > 0 and set(res["rcodes"]) == {"NXDOMAIN"}, "every answer to the flood is NXDOMAIN", res)
    leaked = fd.queries(qm, r"flood\.test")
    check(not leaked, "flooded off-list names reached the upstream", *leaked[:5])
    check("flood.test" not in t.lab.unbound_since(um), "flooded names reached unbound")
    # the log does not flood with it: 100 dns.deny lines a second at most,
    # the rest summarised, and denials are logged again once it is over
    sup = ng.wait_event(lm, "dns.suppressed", timeout=3, of="dns.deny")
    check(sup and sum(int(e["count"]) for e in sup) > 10000, "the flood's denials are summarised",
          *[e["_line"] for e in sup])
    denies = len(ng.events(lm, "dns.deny"))
    check(denies <= 100 * 5, "%d dns.deny lines for a 2 s flood: not rate limited" % denies)
    time.sleep(1.1)
    lm2 = ng.mark()
    check(dig("after-flood.test").status == "NXDOMAIN", "an off-list name after the flood is denied")
    check(ng.wait_event(lm2, "dns.deny", name="after-flood.test"), "a denial after the flood is logged")
    r = want_answer("www.lab.test", "A", "192.0.2.10", timeout=3)
    check(r.ms < 1000, "after the flood an allowed name is answered at once", r)
    want_connect("192.0.2.10", 443)
    only_allowed(["192.0.2.10"], "flood")


@test("42.fault.tcp-idle-and-huge-length")
def t_tcpabuse(t):
    ng, fd = fault_ng(t)
    res = fclient("idletcp", "127.0.0.1", 53, 1000, 1, timeout=60)
    lab.log("    (idle tcp: opened %d, closed by the resolver %d, errors %d)" % (
        res["opened"], res["closed_by_server"], res["errors"]))
    alive(ng, "1000 idle tcp connections")
    check(res["opened"] >= 900, "could not even open the idle connections", res)
    for k in ("fresh", "fresh_after"):
        check(res[k].get("rcode") == "NOERROR" and res[k].get("an", 0) >= 1,
              "a fresh TCP query among 1000 idle connections must be answered (%s)" % k, res)
    check(res["closed_by_server"] >= res["opened"] - 300, "idle connections beyond the limit must be closed", res)
    nfd = len(os.listdir("/proc/%d/fd" % ng.resolver.pid))
    check(nfd < 400, "the resolver holds %d descriptors after the idle flood" % nfd)
    res = fclient("hugelen", "127.0.0.1", 53, timeout=30)
    alive(ng, "huge length")
    check(res["fresh"].get("rcode") == "NOERROR", "a stalled 64 KiB message must not block other clients", res)
    check(res["garbage"].get("rcode") != "NOERROR", "64 KiB of garbage: an error or nothing", res)
    check(res["short"].get("closed") or "error" in res["short"], "a length below a header closes the connection",
          res)
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    only_allowed(["192.0.2.10"], "tcp abuse")


# ------------------------------------------------------------------ the gate's side

def swap_set(maxelem):
    """Replace namegate4 by an empty set with this maxelem (the rules keep
    pointing at the name; swap works while the set is referenced)."""
    run(["ipset", "create", "nglab-swap", "hash:ip,port", "family", "inet", "timeout", "0", "comment",
         "maxelem", str(maxelem)], ns=lab.SBX)
    run(["ipset", "swap", "namegate4", "nglab-swap"], ns=lab.SBX)
    run(["ipset", "destroy", "nglab-swap"], ns=lab.SBX)


@test("43.fault.set-full")
def t_setfull(t):
    ng = t.namegate(allow=BASE_ALLOW + ["multi.lab.test"])
    swap_set(2)
    m = ng.mark()
    # three addresses times two ports: six entries for a set that takes two
    r = dig("multi.lab.test", timeout=3)
    check(r.status == "SERVFAIL" and not r.answers, "set full: want SERVFAIL, no answer", r)
    error_event(ng, m, "multi.lab.test", ("gate-refused",))
    ev = ng.wait_event(m, "daemon", timeout=2)
    check(any("full" in e.get("msg", "") for e in ev), "the gate logs that the set is full",
          *[e["_line"] for e in ev])
    members = ipset_members("namegate4")
    check(members == [], "set full: a partial allow stayed in the set", members)
    for ip in ("192.0.2.71", "192.0.2.72", "192.0.2.73"):
        want_refused(ip, 443)
    alive(ng, "set full")
    # two entries fit
    want_answer("v4only.lab.test", "A", "192.0.2.11")
    want_connect("192.0.2.11", 443)
    # the fault ends: room again
    swap_set(1024)
    r = wait_until(lambda: dig("multi.lab.test").status == "NOERROR", 3, 0.1)
    check(r, "after the set had room again, multi.lab.test did not resolve", dig("multi.lab.test"))
    want_connect("192.0.2.72", 443)


@test("44.fault.gate-killed")
def t_gatekilled(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    ng.nfq.stop(signal.SIGKILL)
    m = ng.mark()
    r = dig("cold.lab.test", timeout=3)
    check(r.status == "SERVFAIL" and not r.answers, "gate dead: an uncached name must get SERVFAIL", r)
    error_event(ng, m, "cold.lab.test", ("gate-unavailable", "gate-timeout", "gate-refused"))
    # A cached name: SERVFAIL too, unless the resolver may still count on
    # a recent ACK; then every address it returns must still be in the set.
    r = dig("www.lab.test", timeout=3)
    check(r.status == "SERVFAIL" or (r.status == "NOERROR" and set(r.addrs()) <= set(set_ips())),
          "gate dead: a cached name gets SERVFAIL, or only addresses still in the set", r, set_ips())
    check(ng.resolver.alive(), "the resolver survives the gate's death", ng.resolver.tail())
    r = lab.connect("192.0.2.61", 443, timeout=1.5)
    check(r["outcome"] != "connected", "gate dead: a flow to an address never answered must not pass", r)
    r = lab.connect("192.0.2.99", 443, timeout=1.5)
    check(r["outcome"] != "connected", "gate dead: a direct flow must not pass", r)
    only_allowed(["192.0.2.10"], "gate dead")
    ng.start_nfq()
    ok = wait_until(lambda: dig("cold.lab.test", timeout=1).status == "NOERROR", 5, 0.1)
    check(ok, "after the gate restarted, the resolver did not recover within 5 s", dig("cold.lab.test"))
    want_connect("192.0.2.61", 443)
    want_refused("192.0.2.99", 443)


@test("45.fault.resolver-killed")
def t_reskilled(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    ng.resolver.stop(signal.SIGKILL)
    for tcp in (False, True):
        r = dig("cold.lab.test", timeout=1, tcp=tcp)
        check(r.status is None, "resolver dead: no DNS answer at all (tcp=%s)" % tcp, r)
    want_refused("192.0.2.61", 443)
    want_refused("192.0.2.99", 443)
    r = dig("cold.lab.test", server=lab.UPSTREAM4, timeout=1)
    check(r.status is None, "resolver dead: the agent still cannot reach the upstream itself", r)
    only_allowed(["192.0.2.10"], "resolver dead")
    check(ng.nfq.alive(), "the gate survives the resolver's death")
    ng.start_resolver()
    ng.wait_ready("cold.lab.test")
    want_connect("192.0.2.61", 443)


def nfqueue_dropped(queue=0):
    p = run(["cat", "/proc/net/netfilter/nfnetlink_queue"], ns=lab.SBX, check=False)
    for ln in p.stdout.splitlines():
        f = ln.split()
        if f and int(f[0]) == queue:
            return int(f[5]), int(f[6])  # queue_dropped, user_dropped
    return None


@test("46.fault.queue-overflow-syn-flood")
def t_synflood(t):
    ng = t.namegate()
    # count SYNs to the denied address where they would arrive
    run(["iptables", "-I", "INPUT", "-d", "192.0.2.99", "-p", "tcp", "--syn", "--dport", "443"], ns=lab.NET)
    try:
        d0 = nfqueue_dropped()
        check(d0 is not None, "queue 0 is not bound", run(["cat", "/proc/net/netfilter/nfnetlink_queue"],
                                                          ns=lab.SBX, check=False).stdout)
        m = ng.mark()
        ng.nfq.send(signal.SIGSTOP)
        try:
            res = fclient("synflood", "192.0.2.99", 443, 20000, 2, timeout=60)
        finally:
            ng.nfq.send(signal.SIGCONT)
        lab.log("    (syn flood: %d SYNs in %.1f s; queue drops %s -> %s)" % (
            res["sent"], res["flood_s"], d0, nfqueue_dropped()))
        check(res["connected"] == 0, "a SYN got through while the gate was stopped", res)
        d1 = nfqueue_dropped()
        check(d1[0] + d1[1] > d0[0] + d0[1], "the queue never overflowed: the case proves nothing", d0, d1)
        out = run(["iptables", "-nvxL", "INPUT"], ns=lab.NET).stdout
        pk = [int(ln.split()[0]) for ln in out.splitlines() if "192.0.2.99" in ln]
        check(pk and pk[0] == 0, "SYNs to the denied address reached the internet", out)
        alive(ng, "syn flood")
        # the gate catches up and works
        want_answer("www.lab.test", "A", "192.0.2.10", timeout=3)
        want_connect("192.0.2.10", 443)
        want_refused("192.0.2.99", 443)
        want_event(ng, m, "flow.deny", dst="192.0.2.99", timeout=5)
    finally:
        run(["iptables", "-D", "INPUT", "-d", "192.0.2.99", "-p", "tcp", "--syn", "--dport", "443"], ns=lab.NET,
            check=False)


@test("47.fault.config-deleted-garbled")
def t_confgone(t):
    ng = t.namegate()
    want_answer("www.lab.test", "A", "192.0.2.10")
    good = ng.conf_text
    for what in ("deleted", "garbled"):
        m = ng.mark()
        if what == "deleted":
            os.unlink(ng.conf)
        else:
            with open(ng.conf, "wb") as f:
                f.write(b"\x00\xff[resolver\nlisten = \x01\x02\n" + os.urandom(64))
        ev = want_event(ng, m, "config.error", timeout=6, count=2)
        check({e.get("daemon") for e in ev} >= {"namegate-nfq", "namegate-resolver"},
              "config %s: both daemons log config.error" % what, *[e["_line"] for e in ev])
        check(dig("new1.lab.test").status == "NXDOMAIN", "config %s: the running list stays" % what)
        want_answer("v4only.lab.test", "A", "192.0.2.11")
        want_connect("192.0.2.11", 443)
        want_refused("192.0.2.99", 443)
        alive(ng, "config " + what)
        only_allowed(["192.0.2.10", "192.0.2.11", "192.0.2.51"], "config " + what)
        # restored, with one name more
        m = ng.mark()
        ng.write_conf(good.rstrip("\n") + "\ndomain = new1.lab.test\n", how="rename")
        want_event(ng, m, "config.load", timeout=6, count=2)
        r = wait_until(lambda: dig("new1.lab.test").status == "NOERROR", 3, 0.1)
        check(r, "config restored: the new name should resolve", dig("new1.lab.test"))
        want_connect("192.0.2.51", 443)
        m = ng.mark()
        ng.write_conf(good, how="rename")
        want_event(ng, m, "config.load", timeout=6, count=2)


# ------------------------------------------------------------------ least privilege

def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    return {k: v.strip() for k, v in st.items()}


CAP_NET_ADMIN = 12
CAP_NET_RAW = 13


@test("48.gate.capabilities")
def t_gatecaps(t):
    """After start the gate keeps CAP_NET_ADMIN (effective) and CAP_NET_RAW
    (permitted only, for the iptables-restore it runs on a reload), and its
    bounding set holds nothing else (docs/security.md)."""
    ng = t.namegate()
    st = proc_status(ng.nfq.pid)
    check("nfq" in st.get("Name", ""), "the pid is the gate", st.get("Name"))
    want = {"CapEff": 1 << CAP_NET_ADMIN, "CapPrm": (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW),
            "CapBnd": (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW), "CapInh": 0, "CapAmb": 0}
    for k, v in want.items():
        check(int(st.get(k, "f" * 16), 16) == v, "gate %s must be %#x" % (k, v), "%s: %s" % (k, st.get(k)))
    check(st.get("NoNewPrivs") == "1", "gate NoNewPrivs must be 1", st.get("NoNewPrivs"))
    # a reload that changes the rules still works with what is left
    m = ng.mark()
    ng.write_conf(ng.conf_text.replace("upstream = %s" % lab.UPSTREAM4,
                                       "upstream = %s %s" % (lab.UPSTREAM4, FAULT_ADDR)), how="rename")
    want_event(ng, m, "config.load", timeout=6, count=2)
    check(wait_until(lambda: FAULT_ADDR in lab.rules_save(4), 3), "the reload did not re-apply the rules",
          ng.log_tail(10))
    bad = [e["_line"] for e in ng.events(m, "daemon") if "not refreshed" in e.get("msg", "")]
    check(not bad, "the reload could not refresh rules or sets", *bad)
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)


@test("49.resolver.seccomp")
def t_seccomp(t):
    ng = t.namegate()
    st = proc_status(ng.resolver.pid)
    check(st.get("Seccomp") == "2", "the resolver runs under a seccomp filter (Seccomp: 2)",
          "Seccomp: %s" % st.get("Seccomp"))
    check(st.get("Seccomp_filters", "1") != "0", "one filter installed", st.get("Seccomp_filters"))
    # the filter leaves the whole job possible: UDP, TCP, upstream, gate, reload
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10", tcp=True)
    m = ng.mark()
    ng.write_conf(ng.conf_text.rstrip("\n") + "\ndomain = new2.lab.test\n", how="rename")
    want_event(ng, m, "config.load", timeout=6, daemon="namegate-resolver")
    check(wait_until(lambda: dig("new2.lab.test").status == "NOERROR", 3), "reload under seccomp")
    alive(ng, "seccomp")


@test("50.agent.cannot-touch-daemons")
def t_agent(t):
    ng = t.namegate()
    for p in (ng.nfq, ng.resolver):
        r = run(["kill", "-TERM", str(p.pid)], ns=lab.SBX, uid=AGENT_UID, check=False)
        check(r.returncode != 0, "the agent could signal %s" % p.name, r.stdout + r.stderr)
    code = "import sys\ntry:\n    open(sys.argv[1], 'a')\n    print('writable')\nexcept OSError as e:\n    print(e)\n"
    r = run(["python3", "-c", code, ng.conf], ns=lab.SBX, uid=AGENT_UID, check=False)
    check("writable" not in r.stdout, "the agent can write sandbox.ini", r.stdout)
    time.sleep(0.2)
    alive(ng, "agent signals")
    st = proc_status(ng.resolver.pid)
    check(int(st["Uid"].split()[0]) != AGENT_UID, "the resolver must not run as the agent's uid", st["Uid"])
    want_answer("www.lab.test", "A", "192.0.2.10")
