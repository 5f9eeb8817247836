"""Who asked a denied name: dns.deny / dns.audit lines name the client's
pid, command and executable, looked up by the gate (WHO request, nfq/who.h)
while the resolver holds the reply (at most 20 ms: the client closes its
socket as soon as it has its answer); with the gate stopped the line says
why=timeout and the reply still comes at once; a flood stays within the
lookup budget and allowed names are not slowed.

The client is tests/lab/dnswhoclient.py run through a symlink to python3
named ngdns-client, so its comm is known; dig is the other client."""
import json
import os
import signal
import statistics
import time

import lab
import tests_who
from lab import dig
from tests_lab import check, test, want_answer, want_event

COMM = "ngdns-client"
SERVER = "127.0.0.1"


def Client():
    """ngdns-client in the sandbox as the agent (tests_who.py's runner)."""
    return tests_who.Client(COMM, "dnswhoclient.py")


named = tests_who.named  # the line names c's pid, comm and exe


@test("136.dnswho.deny")
def t_deny(t):
    """A denied query over UDP and over TCP from a python client, and one
    from dig: the dns.deny line names the client's pid, comm and exe; the
    answer is the usual denial."""
    ng = t.namegate()
    c = Client()
    try:
        for proto in ("udp", "tcp"):
            name = "who-%s.blocked.lab.test" % proto
            m = ng.mark()
            r = c.run(proto, SERVER, name)
            check(r["res"][0]["rcode"] in (3, 5), "the query is denied", r)
            named(ng, m, "dns.deny", r["pid"], c, name=name)
        m = ng.mark()
        d = dig("who-dig.blocked.lab.test")
        check(d.status in ("NXDOMAIN", "REFUSED"), "dig is denied", d)
        e = want_event(ng, m, "dns.deny", timeout=4, name="who-dig.blocked.lab.test")[-1]
        check(e.get("comm") == "dig" and e.get("pid", "-").isdigit() and e.get("exe", "").endswith("/dig"),
              "dns.deny names dig", e["_line"])
        want_answer("www.lab.test", "A", "192.0.2.10")
    finally:
        c.close()


@test("137.dnswho.audit")
def t_audit(t):
    """mode = audit: an off-list name is answered from upstream, and the
    dns.audit line names the client."""
    ng = t.namegate(gate={"mode": "audit"})
    c = Client()
    try:
        m = ng.mark()
        r = c.run("udp", SERVER, "blocked.lab.test")
        check(r["res"][0]["rcode"] == 0, "audit mode answers", r)
        named(ng, m, "dns.audit", r["pid"], c, name="blocked.lab.test")
    finally:
        c.close()


@test("138.dnswho.gate-stopped")
def t_stopped(t):
    """The gate stopped (SIGSTOP): a denial is still answered within about
    20 ms, its line says pid=- why=timeout and names no one; once the gate
    runs again, its late replies are ignored and the next denial is named
    right."""
    ng = t.namegate()
    c = Client()
    try:
        m = ng.mark()
        os.kill(ng.nfq.pid, signal.SIGSTOP)
        try:
            r = c.run("udp", SERVER, "stop1.blocked.lab.test", "stop2.blocked.lab.test")
        finally:
            os.kill(ng.nfq.pid, signal.SIGCONT)
        for x in r["res"]:
            check(x["rcode"] in (3, 5), "denied while the gate is stopped", r)
            check(x["us"] < 150000, "the denial waits 20 ms at most (150 ms with slack)", r)
        stopped_us = [x["us"] for x in r["res"]]
        for name in ("stop1.blocked.lab.test", "stop2.blocked.lab.test"):
            e = want_event(ng, m, "dns.deny", timeout=4, name=name)[-1]
            check(e.get("pid") == "-" and e.get("why") == "timeout" and "comm" not in e,
                  "with the gate stopped the line says why=timeout", e["_line"])
        time.sleep(0.3)
        m = ng.mark()
        r = c.run("udp", SERVER, "after.blocked.lab.test")
        named(ng, m, "dns.deny", r["pid"], c, name="after.blocked.lab.test")
        lab.log("dnswho.gate-stopped: denials answered in %s us with the gate stopped" % stopped_us)
    finally:
        c.close()


@test("139.dnswho.flood")
def t_flood(t):
    """300 denied names in a row (each a fresh socket, one name each): the
    first are named (at most 20 lookups a second, the gate's budget shared
    with flow lines), the rest say why=busy, none names anyone else; the
    flood as a whole waits no more than the budget allows, and allowed
    names are answered at once meanwhile. Prints the added time per denied
    query (looked up, and past the budget) over an allowed cached one."""
    n = 300
    ng = t.namegate()
    c = Client()
    try:
        want_answer("www.lab.test", "A", "192.0.2.10")
        base = c.run("udp", SERVER, *(["www.lab.test"] * 20))
        allowed_us = statistics.median(x["us"] for x in base["res"])
        time.sleep(1.1)  # a fresh budget second
        m = ng.mark()
        names = ["f%d.blocked.lab.test" % i for i in range(n)]
        p = t.bg("dnsflood", c.cmd("udp", SERVER, *names)[4:])
        during = []
        t0 = time.monotonic()
        while p.p.poll() is None and time.monotonic() - t0 < 30:
            d = dig("www.lab.test")
            check(d.status == "NOERROR", "allowed names answered during the flood", d)
            during.append(d.ms)
            time.sleep(0.05)
        p.p.wait(timeout=30)
        r = json.loads([ln for ln in p.tail(10).splitlines() if ln.startswith("{")][-1])
        # The log's own budget (100 lines a second and the first of each
        # name) writes some; only those were looked up.
        want_event(ng, m, "dns.deny", timeout=6, count=100)
        time.sleep(0.5)
        evs = {e["name"]: e for e in ng.events(m, "dns.deny")}
        found, busy, other = [], [], []
        for x in r["res"]:
            check(x["rcode"] in (3, 5), "every query is denied", x)
            e = evs.get(x["name"])
            if e is None:
                continue
            if e.get("pid") == str(r["pid"]):
                found.append(x["us"])
            elif e.get("pid") == "-" and e.get("why") == "busy":
                busy.append(x["us"])
            else:
                check(e.get("pid") == "-" and e.get("why") == "timeout",
                      "a line names the client, or says busy or timeout", e["_line"])
                other.append(x["us"])
        total_s = sum(x["us"] for x in r["res"]) / 1e6
        check(found, "the first denials name the client", len(found), len(busy))
        check(busy, "past the budget, lines say why=busy", len(found), len(busy))
        check(len(found) <= 20 * (int(total_s) + 2), "at most 20 lookups a second", len(found), total_s)
        check(statistics.median(busy) < 20000, "past the budget a denial does not wait", statistics.median(busy))
        if during:
            check(statistics.median(during) < 200, "allowed names answered at once during the flood", during)
        lab.log("dnswho.flood: %d denials in %.2f s, %d logged: %d named (median %d us), %d busy (median %d us), %d timeout; "
                "allowed cached median %d us; added per named denial %+d us, per busy one %+d us; "
                "dig www.lab.test during the flood median %.1f ms" % (
                    n, total_s, len(evs), len(found), statistics.median(found), len(busy), statistics.median(busy),
                    len(other), allowed_us, statistics.median(found) - allowed_us,
                    statistics.median(busy) - allowed_us, statistics.median(during) if during else -1))
    finally:
        c.close()
