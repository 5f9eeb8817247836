"""namegate status and namegate why against a live lab: what the sets allow
now (name, address, ports, TTL left), the recent denials by name,
destination and process, why an address or a name would be allowed or
denied (exit 0 / 1), --json with the same content, and nothing for a
caller without CAP_NET_ADMIN (a real uid != 0)."""
import json
import os
import re

import lab
from lab import AGENT_UID, dig, run
from tests_lab import check, test, want_answer, want_connect, want_event, want_refused

OFFLIST = "blocked.lab.test"


def ng_cli(t, *args, ng=None, uid=None):
    cmd = [os.path.join(t.lab.build, "cli", "namegate")] + list(args[:1])
    if ng is not None:
        cmd += ["-c", ng.conf]
    return run(cmd + list(args[1:]), ns=lab.SBX, check=False, uid=uid)


def live(t):
    """A namegate with www.lab.test resolved and used, a network line, an
    off-list lookup and a flow to a never-resolved address in the log."""
    ng = t.namegate(allow=lab_allow())
    m = ng.mark()
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_answer("www.lab.test", "AAAA", "2001:db8:1::10")
    want_connect("192.0.2.10", 443)
    r = dig(OFFLIST)
    check(r.status == "NXDOMAIN", "the off-list name is denied", r)
    want_refused("192.0.2.99", 443)
    want_refused("192.0.2.99", 443)
    want_event(ng, m, "dns.deny", name=OFFLIST)
    want_event(ng, m, "flow.deny", dst="192.0.2.99", count=2)
    return ng


def lab_allow():
    from tests_lab import BASE_ALLOW
    return BASE_ALLOW + ["network = 203.0.113.0/28 tcp/5432"]


def rows(text, header):
    """The rows of the table under the header line that starts with header."""
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith(header):
            out = []
            for r in lines[i + 1:]:
                if not r.strip() or r.startswith(("by ", "  ", "networks", "recent")):
                    break
                out.append(r)
            return out
    return None


@test("125.status.live")
def t_status(t):
    """status lists the resolved name with its addresses, ports and a TTL
    left (from the kernel's sets), the network line, and counts the denials
    by name, destination and process; --json has the same content."""
    ng = live(t)
    p = ng_cli(t, "status", ng=ng)
    check(p.returncode == 0, "namegate status exits 0", p.returncode, p.stdout, p.stderr)
    out = p.stdout
    allowed = rows(out, "NAME ")
    check(allowed is not None, "an allowed table", out)
    www = {}
    for r in allowed:
        f = r.split()
        if f[0] == "www.lab.test":
            www[f[1]] = f
    check(set(www) >= {"192.0.2.10", "2001:db8:1::10"}, "status lists www.lab.test with both addresses", out)
    for addr, f in www.items():
        check(f[2:4] == ["tcp/80", "tcp/443"], "the [gate] ports of www.lab.test", f, out)
        m = re.fullmatch(r"(\d+)s", f[4])
        check(m and 0 < int(m.group(1)) <= 3600, "a TTL left, in seconds", f, out)
    # aligned: every row's address starts where the header's ADDRESS does
    head = [ln for ln in out.splitlines() if ln.startswith("NAME ")][0]
    col = head.index("ADDRESS")
    check(all(r[col - 2:col] == "  " and r[col] != " " for r in allowed), "the columns are aligned", out)
    check(re.search(r"^203\.0\.113\.0/28\s+tcp/5432\s+\d+$", out, re.M), "the network line", out)
    check(re.search(r"^1\s+%s\s+NXDOMAIN\s" % re.escape(OFFLIST), out, re.M), "the off-list name, counted", out)
    check(re.search(r"^2\s+tcp\s+192\.0\.2\.99\s+443\s+unresolved\s", out, re.M),
          "the never-resolved destination, counted twice", out)
    check(re.search(r"^\d+\s+%d\s" % AGENT_UID, out, re.M), "the agent's uid among the processes", out)

    pj = ng_cli(t, "status", "--json", ng=ng)
    check(pj.returncode == 0, "namegate status --json exits 0", pj.stderr)
    j = json.loads(pj.stdout)
    jrows = sorted((a["name"], a["address"], " ".join(a["ports"])) for a in j["allowed"])
    trows = sorted((r.split()[0], r.split()[1], " ".join(r.split()[2:-1])) for r in allowed)
    check(jrows == trows, "--json lists the same entries as the text", jrows, trows)
    check(all(0 < a["ttl"] <= 3600 for a in j["allowed"] if a["name"] == "www.lab.test"), "--json TTLs", j)
    check([n["network"] for n in j["networks"]] == ["203.0.113.0/28"], "--json network", j)
    byname = {d["name"]: d["count"] for d in j["denials"]["name"]}
    check(byname.get(OFFLIST) == 1, "--json counts the off-list name", j["denials"])
    bydst = {(d["destination"], d["port"]): d for d in j["denials"]["destination"]}
    check(bydst.get(("192.0.2.99", "443"), {}).get("count") == 2
          and bydst[("192.0.2.99", "443")]["reason"] == "unresolved", "--json counts the destination", j["denials"])
    check(j["log"]["file"] == ng.logfile and j["log"]["denials"] >= 3, "--json names the log", j["log"])


@test("126.status.why")
def t_why(t):
    """why ADDR of a handed-out address says allowed, for which name and
    port; of a never-resolved one, denied and why; why NAME of an off-list
    name says denied with its DNS answer, of a listed one which line and
    what it resolved to. The exit status is the verdict (0 / 1), and it is
    what the kernel then does."""
    ng = live(t)

    p = ng_cli(t, "why", "192.0.2.10", ng=ng)
    check(p.returncode == 0, "why of a handed-out address exits 0", p.returncode, p.stdout, p.stderr)
    check(p.stdout.startswith("192.0.2.10: allowed (handed-out)"), "allowed, as handed out", p.stdout)
    check(re.search(r"handed out for www\.lab\.test on tcp/443, \d+s left", p.stdout), "for which name and port",
          p.stdout)
    p = ng_cli(t, "why", "192.0.2.10", "tcp/22", ng=ng)
    check(p.returncode == 1 and "denied (port)" in p.stdout and "domain = www.lab.test tcp/22" in p.stdout,
          "why on a port the name lacks: denied, and the line to add", p.returncode, p.stdout)
    want_refused("192.0.2.10", 22)

    p = ng_cli(t, "why", "192.0.2.99", ng=ng)
    check(p.returncode == 1, "why of a never-resolved address exits 1", p.returncode, p.stdout, p.stderr)
    check(p.stdout.startswith("192.0.2.99: denied (unresolved)") and "not handed out" in p.stdout,
          "denied, and why", p.stdout)

    p = ng_cli(t, "why", "203.0.113.5", "tcp/5432", ng=ng)
    check(p.returncode == 0 and "allowed (network)" in p.stdout, "a network line's address", p.stdout)

    p = ng_cli(t, "why", OFFLIST, ng=ng)
    check(p.returncode == 1, "why of an off-list name exits 1", p.returncode, p.stdout, p.stderr)
    check(p.stdout.startswith("%s: denied (not-listed)" % OFFLIST) and "a lookup gets NXDOMAIN" in p.stdout
          and '"domain = %s"' % OFFLIST in p.stdout, "denied: not listed, its answer, the line to add", p.stdout)

    p = ng_cli(t, "why", "WWW.lab.test.", ng=ng)
    check(p.returncode == 0 and p.stdout.startswith("www.lab.test: allowed (resolved)"), "a resolved name", p.stdout)
    check(re.search(r"^  line \d+: domain = www\.lab\.test tcp/443 tcp/80$", p.stdout, re.M), "its line", p.stdout)
    check(re.search(r"^192\.0\.2\.10\s+tcp/443\s+\d+s$", p.stdout, re.M), "its addresses in the sets", p.stdout)
    p = ng_cli(t, "why", "ssh.lab.test", "tcp/443", ng=ng)
    check(p.returncode == 1 and "denied (port)" in p.stdout, "a listed name on a port its line lacks", p.stdout)

    pj = ng_cli(t, "why", "--json", "192.0.2.99", ng=ng)
    j = json.loads(pj.stdout)
    check(pj.returncode == 1 and j["allowed"] is False and j["reason"] == "unresolved" and j["entries"] == [],
          "--json: the same verdict", j)
    pj = ng_cli(t, "why", "--json", "192.0.2.10", ng=ng)
    j = json.loads(pj.stdout)
    check(pj.returncode == 0 and j["allowed"] is True
          and {(e["name"], e["port"]) for e in j["entries"]} == {("www.lab.test", "tcp/443"), ("www.lab.test", "tcp/80")},
          "--json: the same entries", j)
    pj = ng_cli(t, "why", "--json", OFFLIST, ng=ng)
    j = json.loads(pj.stdout)
    check(pj.returncode == 1 and j["answer"] == "NXDOMAIN" and j["reason"] == "not-listed", "--json of a name", j)
    p = ng_cli(t, "why", "not a name", ng=ng)
    check(p.returncode == 2 and not p.stdout, "neither an address nor a name: exit 2", p.returncode, p.stdout)


@test("127.status.nonroot")
def t_nonroot(t):
    """A caller without CAP_NET_ADMIN (the agent's uid) gets nothing: the
    kernel refuses it the sets, and status and why print nothing on stdout
    and exit 2, though the config and the log are readable to it."""
    ng = live(t)
    os.chmod(ng.dir, 0o755)
    os.chmod(ng.logfile, 0o644)
    for args in (("status",), ("status", "--json"), ("why", "192.0.2.10"), ("why", "www.lab.test")):
        p = ng_cli(t, *args, ng=ng, uid=AGENT_UID)
        check(p.returncode == 2 and p.stdout == "", "namegate %s as uid %d: exit 2, nothing on stdout" % (
            " ".join(args), AGENT_UID), p.returncode, p.stdout, p.stderr)
        check("cannot read the sets" in p.stderr and "www.lab.test" not in p.stderr + p.stdout,
              "refused by the kernel, after reading the config", p.stderr)
    p = ng_cli(t, "status", ng=ng)
    check(p.returncode == 0 and "www.lab.test" in p.stdout, "root still reads it", p.stdout, p.stderr)
