"""namegate learn: the log of an audit-mode run becomes the [allow] section
that lets the same run pass in enforce mode, and nothing else. Wildcards
over names anyone can register under (the Public Suffix List's ICANN and
private sections, through libpsl) are never proposed, and --check-config
warns about such lines."""
import os
import re

import lab
from lab import dig, run
from tests_lab import READY, check, test, want_answer, want_connect, want_refused

# (name, qtype, address, proto, port): what the client of the run does
TRAFFIC = [
    ("www.lab.test", "A", "192.0.2.10", "tcp", 443),
    ("www.lab.test", "AAAA", "2001:db8:1::10", "tcp", 443),
    ("ssh.lab.test", "A", "192.0.2.22", "tcp", 22),
    ("quic.lab.test", "A", "192.0.2.23", "udp", 443),
    ("alias.lab.test", "A", "203.0.113.20", "tcp", 8080),  # through a CNAME chain
]
OFFLIST = "v4only.lab.test"


def learn(t, *args, stdin=None):
    p = run([os.path.join(t.lab.build, "cli", "namegate"), "learn"] + list(args), ns=None, check=False,
            input=stdin)
    check(p.returncode == 0, "namegate learn %s exited %d" % (" ".join(args), p.returncode), p.stderr)
    return p.stdout


def domain_lines(text):
    return sorted(ln.strip() for ln in text.splitlines() if re.match(r"\s*domain\s*=", ln))


def run_traffic():
    for name, qtype, addr, proto, port in TRAFFIC:
        want_answer(name, qtype, addr)
        want_connect(addr, port, proto)


@test("112.learn.loop")
def t_loop(t):
    """Audit run (nothing listed but the readiness name) → learn → the
    printed section as the new [allow]: in enforce mode the same lookups and
    connects pass; an off-list name, and a port the run never used, are
    still denied; and learning the same log again with --merge over the
    new config adds nothing."""
    ng = t.namegate(allow=[], gate={"mode": "audit"})
    run_traffic()
    ng.stop()
    with open(ng.logfile) as f:
        log = f.read()
    check("addrs=" in "".join(ln for ln in log.splitlines() if "event=dns.audit" in ln),
          "dns.audit lines carry addrs", log[-2000:])
    # more than the 5 names: exact lines, so "nothing else" is visible
    section = learn(t, "--group", "9", ng.logfile)
    got = domain_lines(section)
    want = sorted(["domain = alias.lab.test tcp/8080", "domain = quic.lab.test udp/443",
                   "domain = ssh.lab.test tcp/22", "domain = www.lab.test tcp/443", "domain = " + READY])
    check(got == want, "learn proposes exactly the names and ports the run used", got, section)
    check(learn(t, "--group", "9", ng.logfile) == section, "the output is the same every time")
    ng.close()

    ng2 = t.namegate(allow=[], extra=section)
    run_traffic()
    r = dig(OFFLIST)
    check(r.status == "NXDOMAIN" and not r.addrs(), "an off-list name is still denied", r)
    want_refused("192.0.2.10", 80)  # www on a port the run never used
    want_refused("192.0.2.22", 443)
    want_refused("192.0.2.23", 443, "tcp")
    again = learn(t, "--group", "9", "--merge", ng2.conf, ng.logfile)
    added = again.split("; added by namegate learn", 1)[1]
    check(not domain_lines(added), "--merge over the learned config adds nothing", again)
    check(domain_lines(again.split("; added by namegate learn", 1)[0]) == domain_lines(ng2.conf_text),
          "--merge prints the config's own lines first", again)


PSL_LOG = "".join(
    "ts=2026-12-01T10:00:00.000Z level=info event=dns.audit name=%s type=A client=127.0.0.1 rcode=NOERROR "
    "addrs=192.0.2.%d\n" % (n, i + 1) for i, n in enumerate([
        "alice.github.io", "bob.github.io", "carol.github.io", "x.dave.github.io",
        "b1.s3.amazonaws.com", "b2.s3.amazonaws.com", "b3.s3.amazonaws.com",
        "q.amazonaws.com", "r.amazonaws.com", "s.amazonaws.com",
        "a.herokuapp.com", "b.herokuapp.com", "c.herokuapp.com",
        "www.lab.test", "ssh.lab.test", "quic.lab.test",
    ]))


@test("113.learn.psl")
def t_psl(t):
    """learn never proposes a wildcard or apex line over a public suffix,
    or over a domain with one below it (github.io, s3.amazonaws.com,
    amazonaws.com, herokuapp.com); three names under lab.test do group.
    namegate-nfq and namegate-resolver --check-config warn about such lines,
    as file:line: warning, and still exit 0."""
    out = learn(t, stdin=PSL_LOG)
    lines = domain_lines(out)
    wild = [ln for ln in lines if re.match(r"domain = [*.]", ln)]
    check(wild == ["domain = *.lab.test"], "the only wildcard proposed is *.lab.test", out)
    for n in ("alice.github.io", "x.dave.github.io", "b1.s3.amazonaws.com", "q.amazonaws.com", "a.herokuapp.com"):
        check("domain = " + n in lines, "%s proposed as an exact name" % n, out)

    bad = ["domain = *.github.io", "domain = .s3.amazonaws.com", "domain = *.herokuapp.com",
           "domain = .amazonaws.com", "domain = .com"]
    ng = t.namegate(allow=["domain = .lab.test"] + bad + ["domain = alice.github.io"], start=False)
    conf_lines = ng.conf_text.splitlines()
    for which in ("nfq", "resolver"):
        p = ng.cmd(which, "--check-config")
        check(p.returncode == 0, "%s --check-config exits 0 with warnings" % which, p.stderr)
        warned = re.findall(r"^%s:(\d+): warning: " % re.escape(ng.conf), p.stderr, re.M)
        want = [str(conf_lines.index(b) + 1) for b in bad]
        check(warned == want, "%s --check-config warns on exactly lines %s" % (which, want), p.stderr)
