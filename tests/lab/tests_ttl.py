"""What the gate does with the timeouts of entries it shares between names,
and how much one allowlist line may hold (max_per_line). Names and
addresses: the ttl* and *.wild blocks of lab.test.zone."""
import os
import re
import signal
import tempfile
import time

import lab
from lab import AGENT_UID, dig, ipset_entry, ipset_members, run, wait_until
from tests_faults import alive, fault_ng
from tests_lab import BASE_ALLOW, check, no_event, test, want_answer, want_connect, want_event, want_refused

SHARED_IP = "192.0.2.80"
FLOOD_NAMES = 400
WILD = [("w%d.wild.lab.test" % i, "198.51.100.%d" % (100 + i)) for i in range(1, 11)]


def entry_timeout(ip, port=443):
    e = ipset_entry("namegate4", ip, "tcp", port)
    return e["timeout"] if e else None


@test("70.ttl.shared-address-keeps-longest")
def t_shared_ttl(t):
    """Two names on one address, TTL 300 and TTL 2: resolving the short one
    must not cut the entry the long one's (cached) answer relies on."""
    ng = t.namegate(allow=BASE_ALLOW + ["ttllong.lab.test", "ttlshort.lab.test"], resolver={"min_ttl": 1})
    r = want_answer("ttllong.lab.test", "A", SHARED_IP)
    # What is left of 300 if the upstream cached it before.
    long_ttl = min(a[1] for a in r.answers if a[2] == "A")
    check(long_ttl > 60, "the long name's TTL (~300)", r)
    to = entry_timeout(SHARED_IP)
    check(to is not None and to >= long_ttl - 10, "the long name's entry has its TTL (~300)", to)
    r = want_answer("ttlshort.lab.test", "A", SHARED_IP)
    check(r.answers[0][1] <= 2, "the short name's TTL is relayed (<= 2)", r)
    for port in (443, 80):
        to = entry_timeout(SHARED_IP, port)
        check(to is not None and to >= long_ttl - 10,
              "after the short name, tcp/%d still has ~300 s (never shortened)" % port,
              to)
    time.sleep(3.5)
    to = entry_timeout(SHARED_IP)
    check(to is not None and to >= long_ttl - 15, "3.5 s after the short answer the entry is still there with ~300 s",
          to)
    m = ng.mark()
    want_answer("ttllong.lab.test", "A", SHARED_IP)
    want_event(ng, m, "dns.allow", name="ttllong.lab.test", cached="1")
    want_connect(SHARED_IP, 443)
    want_connect(SHARED_IP, 80)


@test("71.bound.per-line-eviction")
def t_per_line(t):
    """max_per_line = 8 and the default two ports: a wildcard line holds the
    entries of its 4 newest addresses; the oldest are evicted (and their
    cached answers go through the gate again), other lines untouched."""
    ng = t.namegate(allow=BASE_ALLOW + ["*.wild.lab.test"], gate={"max_per_line": 8})
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    m = ng.mark()
    for name, ip in WILD:
        want_answer(name, "A", ip)
    wild = [e for e in ipset_members("namegate4") or [] if (e["comment"] or "").endswith(".wild.lab.test")]
    check(len(wild) <= 8, "the wildcard line holds at most max_per_line = 8 entries", *wild)
    for name, ip in WILD[-4:]:
        check(entry_timeout(ip) is not None, "the newest %s is in the set" % name)
        want_connect(ip, 443)
    for name, ip in WILD[:-4]:
        check(entry_timeout(ip) is None and entry_timeout(ip, 80) is None, "the older %s was evicted" % name)
    want_refused(WILD[0][1], 443)
    ev = want_event(ng, m, "gate.evict", pattern="*.wild.lab.test")
    check(sum(int(e.get("count", 0)) for e in ev) >= 1, "gate.evict counts the evictions", *[e["_line"] for e in ev])
    # the exact names of other lines are unaffected
    check(entry_timeout("192.0.2.10") is not None, "www.lab.test's entry was not evicted")
    want_connect("192.0.2.10", 443)
    want_answer("v4only.lab.test", "A", "192.0.2.11")
    want_connect("192.0.2.11", 443)
    # an evicted name's cached answer is not taken as still held: asked
    # again, it goes through the gate and connects
    m = ng.mark()
    want_answer(WILD[0][0], "A", WILD[0][1])
    want_event(ng, m, "dns.allow", name=WILD[0][0], cached="1")
    want_connect(WILD[0][1], 443)
    wild = [e for e in ipset_members("namegate4") or [] if (e["comment"] or "").endswith(".wild.lab.test")]
    check(len(wild) <= 8, "still at most 8 entries for the wildcard line", *wild)


def set_size_in_memory(setname):
    p = run(["ipset", "list", "-t", setname], ns=lab.SBX, check=False)
    m = re.search(r"Size in memory: (\d+)", p.stdout)
    return int(m.group(1)) if m else None


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return None


@test("72.bound.wildcard-flood-v6")
def t_flood(t):
    """The issue's attack, scaled down: one wildcard answered with 64 fresh
    IPv6 addresses per name. With the default max_per_line the line holds
    at most its bound (plus the answer being handed out), other lines still
    get their answers, and the newest flood address connects."""
    ng, fd = fault_ng(t, allow=BASE_ALLOW + ["*.flood.lab.test"])
    fd.set("synth 64")
    names = ["f%d.flood.lab.test" % i for i in range(1, FLOOD_NAMES + 1)]
    fdsc, path = tempfile.mkstemp(prefix="nglab-flood.")
    try:
        with os.fdopen(fdsc, "w") as f:
            for n in names:
                f.write("%s AAAA +time=3 +tries=1 +short @127.0.0.1\n" % n)
        os.chmod(path, 0o644)
        start = time.monotonic()
        p = run(["dig", "-f", path], ns=lab.SBX, uid=AGENT_UID, check=False, timeout=80)
        secs = time.monotonic() - start
    finally:
        os.unlink(path)
    got = sum(1 for ln in p.stdout.splitlines() if ln.startswith("2001:db8:f0:"))
    check(got >= FLOOD_NAMES * 64 * 0.95, "the flood's answers came back (%d addresses)" % got, p.stderr[-500:])
    flood = [e for e in ipset_members("namegate6") or [] if (e["comment"] or "").endswith(".flood.lab.test")]
    bound = 8192
    lab.log("    (flood: %d names x 64 AAAA in %.1f s; namegate6 holds %d entries for the line, %s bytes; "
            "gate VmRSS %s kB)" % (FLOOD_NAMES, secs, len(flood), set_size_in_memory("namegate6"),
                                   vm_rss_kb(ng.nfq.pid)))
    check(len(flood) <= bound + 64 * 2, "the wildcard line holds at most max_per_line (+ one answer)", len(flood))
    want_event(ng, 0, "gate.evict", pattern="*.flood.lab.test")
    # the newest answer is in the set and connects; other lines unaffected
    last = names[-1]
    r = want_answer(last, "AAAA")
    want_connect(r.addrs()[0], 443)
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10")
    want_connect("2001:db8:1::10", 443)
    want_answer("v6only.lab.test", "AAAA", "2001:db8:1::11")
    want_connect("2001:db8:1::11", 443)
    alive(ng, "flood")


def wild_entries():
    return [e for e in ipset_members("namegate4") or [] if (e["comment"] or "").endswith(".wild.lab.test")]


@test("73.bound.reload-keeps-count")
def t_reload_bound(t):
    """A reload that adds a line above the wildcard (every line moves down
    one) keeps counting the wildcard's entries against it: the next answers
    evict the oldest, the sets are not emptied, and the new name works."""
    ng = t.namegate(allow=BASE_ALLOW + ["*.wild.lab.test"], gate={"max_per_line": 8})
    want_answer("www.lab.test", "A", "192.0.2.10")
    for name, ip in WILD[:4]:
        want_answer(name, "A", ip)
    check(len(wild_entries()) == 8, "four wildcard names: 8 entries", *wild_entries())
    m = ng.mark()
    text = ng.conf_text.replace("[allow]\n", "[allow]\ndomain = new1.lab.test\n", 1)
    check(text != ng.conf_text, "the test config has no [allow] line to insert after")
    ng.write_conf(text, how="rename")
    want_event(ng, m, "config.load", timeout=6, count=2)
    no_event(ng, m, "config.error")
    check(entry_timeout("192.0.2.10") is not None, "an added line empties nothing")
    for name, ip in WILD[4:6]:
        want_answer(name, "A", ip)
        want_connect(ip, 443)
    w = wild_entries()
    check(len(w) <= 8, "after the reload the wildcard line still holds at most 8", *w)
    for name, ip in WILD[:2]:
        check(entry_timeout(ip) is None, "the oldest %s was evicted after the reload" % name)
    for name, ip in WILD[2:6]:
        check(entry_timeout(ip) is not None, "%s is still in the set" % name)
    r = want_answer("new1.lab.test", "A", "192.0.2.51", timeout=3)
    want_connect("192.0.2.51", 443)
    check(entry_timeout("192.0.2.10") is not None, "www.lab.test's entry stays", r)


@test("74.ttl.gate-restart-keeps-timeouts")
def t_restart(t):
    """A restarted gate reads what the sets hold: the long name's entry is
    not cut by the short name resolved after the restart, and the wildcard
    line's entries from before still count against its bound."""
    ng = t.namegate(allow=BASE_ALLOW + ["ttllong.lab.test", "ttlshort.lab.test", "*.wild.lab.test"],
                    resolver={"min_ttl": 1}, gate={"max_per_line": 8})
    r = want_answer("ttllong.lab.test", "A", SHARED_IP)
    # The upstream may have cached the name in an earlier test, so its TTL
    # is whatever is left of 300: measure from the answer, not from 300.
    long_ttl = min(a[1] for a in r.answers if a[2] == "A")
    t_long = time.monotonic()
    for name, ip in WILD[:4]:
        want_answer(name, "A", ip)
    ng.nfq.stop(signal.SIGTERM)
    m = ng.mark()
    ng.start_nfq()
    ok = wait_until(lambda: dig("ttlshort.lab.test", timeout=1).status == "NOERROR", 5, 0.1)
    check(ok, "after the gate restarted, the resolver did not recover within 5 s", dig("ttlshort.lab.test"))
    to = entry_timeout(SHARED_IP)
    left = long_ttl - (time.monotonic() - t_long)
    check(to is not None and to >= left - 5 and to > 10,
          "after a restart, the short name did not cut the long one's entry",
          "kernel timeout %s, the long answer has %.0f s left" % (to, left))
    ev = ng.events(m, "daemon")
    check(any("hold" in e.get("msg", "") for e in ev), "the restarted gate says what the sets held",
          *[e["_line"] for e in ev])
    for name, ip in WILD[4:6]:
        want_answer(name, "A", ip)
    w = wild_entries()
    check(len(w) <= 8, "entries from before the restart count against the line's bound", *w)
    # (which ones went is the kernel's listing order: the record
    # learns no ages from it)
    for name, ip in WILD[4:6]:
        check(entry_timeout(ip) is not None, "the newest %s is in the set" % name)
        want_connect(ip, 443)
    time.sleep(3)
    want_connect(SHARED_IP, 443)
