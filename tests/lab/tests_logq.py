"""Denials hidden in a flood, and bits smuggled upstream in a query for an
allowed name.

85-86: the log's rate limit keeps its budget, but the first denial of each
destination (flows) and of each name (dns.deny) in an interval is written
even over the budget (common/ratelimit.c).
87-88: the upstream never sees the client's 0x20 case pattern, the client
gets its own case back (fresh, from the cache, from a reply template), and
query types no client needs are answered NOTIMP without asking upstream."""
import json
import os

import lab
from lab import Fail, AGENT_UID, run
from tests_lab import BASE_ALLOW, check, test, want_event, no_event

FLOOD_N = 450


def lq(*args, timeout=30):
    p = run(["python3", os.path.join(lab.HERE, "logq_client.py")] + [str(a) for a in args], ns=lab.SBX,
            uid=AGENT_UID, check=False, timeout=timeout)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Fail("logq_client.py %s: rc %d\n%s%s" % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))


def same_second(res, i, what):
    """The i-th part of a flood started while the first second's budget was
    spent (else the test shows nothing)."""
    check(res["starts_ms"][i] < 900, "the flood took too long to test %s: %s" % (what, res))


@test("85.log.flow-first-per-destination")
def t_flow_first(t):
    """400+ denied connects to one destination, then one to another address
    and port and one to the same address on another port: both are in the
    log, the flood is summarised, and the flooded destination is written no
    more than its budget."""
    ng = t.namegate()
    m = ng.mark()
    res = lq("connflood", "192.0.2.99:443:%d" % FLOOD_N, "198.51.100.77:8080:1", "192.0.2.99:22:1",
             "192.0.2.99:443:100")
    lab.log("    (connflood: %s)" % res)
    check(res["outcomes"] == {"refused": FLOOD_N + 102}, "every connect is refused", res)
    same_second(res, 1, "the other destination")
    same_second(res, 2, "the other port")
    want_event(ng, m, "flow.deny", dst="198.51.100.77", dport="8080", proto="tcp", reason="unresolved",
               uid=AGENT_UID)
    want_event(ng, m, "flow.deny", dst="192.0.2.99", dport="22", proto="tcp", reason="unresolved")
    sup = want_event(ng, m, "flow.suppressed", timeout=3)
    total = sum(int(e["count"]) for e in ng.events(m, "flow.suppressed"))
    flooded = len(ng.events(m, "flow.deny", dst="192.0.2.99", dport="443"))
    lab.log("    (flooded destination: %d lines, %d suppressed)" % (flooded, total))
    check(flooded <= 100 * 3, "%d lines for the flooded destination: not rate limited" % flooded)
    check(total >= FLOOD_N + 100 - flooded - 2, "the flood is summarised", *[e["_line"] for e in sup])
    check(ng.nfq.alive(), "the gate died")


@test("86.log.dns-first-per-name")
def t_dns_first(t):
    """A flood of one off-list name, then one other name: the other name's
    dns.deny is written; the same name again in other case, in the same
    interval and over the budget, is not written twice."""
    ng = t.namegate()
    m = ng.mark()
    res = lq("dnsflood", "127.0.0.1", "flood-one.test:%d" % FLOOD_N, "other-name.test:1", "OTHER-Name.TEST:1",
             "flood-one.test:100")
    lab.log("    (dnsflood: %s)" % res)
    check(res["rcodes"] == {"NXDOMAIN": FLOOD_N + 102} and res["lost"] == 0, "every query is denied", res)
    same_second(res, 1, "the other name")
    same_second(res, 2, "the other name in other case")
    ev = want_event(ng, m, "dns.deny", name="other-name.test", rcode="NXDOMAIN")
    check(len(ng.events(m, "dns.deny", name="other-name.test")) == 1,
          "the other name in other case is the same name: one line", *[e["_line"] for e in ev])
    want_event(ng, m, "dns.suppressed", timeout=3, of="dns.deny")
    flooded = len(ng.events(m, "dns.deny", name="flood-one.test"))
    lab.log("    (flooded name: %d lines)" % flooded)
    check(flooded <= 100 * 3, "%d lines for the flooded name: not rate limited" % flooded)
    check(ng.resolver.alive(), "the resolver died")


def upstream_names(text):
    """The question names unbound logged (log-queries), as received."""
    names = []
    for ln in text.splitlines():
        f = ln.split()
        # "[time] unbound[pid:0] info: 198.18.0.2 www.lab.test. A IN"
        if "info:" in f:
            i = f.index("info:")
            if len(f) >= i + 5 and f[i + 4] == "IN":
                names.append((f[i + 2], f[i + 3]))
    return names


def want_case(r, name, what):
    check(r.get("rcode") == "NOERROR" and "192.0.2.10" in r.get("addrs", []), "%s: want the answer" % what, r)
    check(r["qname"] == name, "%s: the reply's question is %r, the client asked %r" % (what, r["qname"], name), r)
    check(r["owners"] and all(o == name for o in r["owners"]),
          "%s: answer owners %r, want the client's %r" % (what, r["owners"], name), r)


@test("87.dns.upstream-lower-case")
def t_lower_case(t):
    """A mixed-case query for an allowed name: unbound receives it in lower
    case; the client's reply has the client's case in its question and
    answer owner; the same query again (a hit on the entry's template) and
    another case pattern on the same entry each get their own case."""
    ng = t.namegate()
    um, m = t.lab.unbound_mark(), ng.mark()
    r = lq("dns", "127.0.0.1", "WwW.LaB.TeSt", 1)
    want_case(r, "WwW.LaB.TeSt", "the first query")
    seen = lab.wait_until(lambda: [n for n in upstream_names(t.lab.unbound_since(um)) if n[1] == "A"], 3)
    check(seen, "unbound logged no query", t.lab.unbound_since(um)[-2000:])
    check(all(n[0] == "www.lab.test." for n in seen),
          "the upstream saw the client's case pattern: %s" % seen, t.lab.unbound_since(um)[-2000:])
    want_event(ng, m, "dns.allow", name="www.lab.test", type="A", rcode="NOERROR")
    um2, m2 = t.lab.unbound_mark(), ng.mark()
    r = lq("dns", "127.0.0.1", "WwW.LaB.TeSt", 1)
    want_case(r, "WwW.LaB.TeSt", "the same query again")
    r = lq("dns", "127.0.0.1", "wWw.lAb.TEST", 1)
    want_case(r, "wWw.lAb.TEST", "another case pattern")
    ev = want_event(ng, m2, "dns.allow", count=2, name="www.lab.test", type="A", cached=1)
    check(len(ev) == 2, "both from the cache", *[e["_line"] for e in ev])
    check(not [n for n in upstream_names(t.lab.unbound_since(um2)) if n[0].lower() == "www.lab.test." and
               n[1] == "A"], "a cache hit asked upstream", t.lab.unbound_since(um2)[-2000:])


@test("88.dns.private-qtypes-refused")
def t_qtypes(t):
    """Query types no client needs, for an allowed name: NOTIMP at once, no
    upstream query, a dns.deny line. ANY keeps what it did."""
    ng = t.namegate()
    um, m = t.lab.unbound_mark(), ng.mark()
    for qtype in (65280, 65534, 65535, 0, 249, 128):
        mq = ng.mark()
        r = lq("dns", "127.0.0.1", "www.lab.test", qtype)
        check(r.get("rcode") == "NOTIMP", "type %d for an allowed name: want NOTIMP" % qtype, r)
        check(not r.get("owners"), "type %d: records in the reply" % qtype, r)
        ev = want_event(ng, mq, "dns.deny", name="www.lab.test", rcode="NOTIMP")
        check(ev[0].get("type") in ("TYPE%d" % qtype, "TKEY"), "the line names the type", ev[0]["_line"])
    r = lq("dns", "127.0.0.1", "blocked.lab.test", 65280)
    check(r.get("rcode") == "NOTIMP", "off-list, the same answer (the rcode tells nothing of the list)", r)
    asked = [n for n in upstream_names(t.lab.unbound_since(um)) if n[0].lower() == "www.lab.test."]
    check(not asked, "the upstream was asked: %s" % asked, t.lab.unbound_since(um)[-2000:])
    r = lq("dns", "127.0.0.1", "www.lab.test", 1)
    check(r.get("rcode") == "NOERROR", "type A still answered", r)
    r = lq("dns", "127.0.0.1", "www.lab.test", 255)
    check(r.get("rcode") not in ("NOTIMP", None), "ANY is forwarded, as before", r)
    no_event(ng, m, "dns.error")
