"""Denials that explain themselves: the answer to an off-list name says what
happened (NXDOMAIN by default, with an RFC 8914 Extended DNS Error naming
namegate's policy and the config file), search lists keep walking whatever
`deny` says, and the answer to an unknown opcode claims no recursion."""
import os
import re

import lab
from lab import dig, run, wait_until
from tests_lab import READY, check, test, want_answer, want_connect, want_event

EDE_RE = re.compile(r"; EDE: (\d+) \(([^)]*)\): \((.*)\)")


def ede(r):
    """(code, mnemonic, text) of the EDE dig printed, or None."""
    m = EDE_RE.search(r.out)
    return (int(m.group(1)), m.group(2), m.group(3)) if m else None


def full_dig(name, qtype="A", extra=(), **kw):
    """dig showing every section, the OPT pseudo-section included."""
    return dig(name, qtype, extra=("+authority", "+additional") + tuple(extra), **kw)


def counts(r):
    """The section counts of dig's header line."""
    m = re.search(r"QUERY: (\d+), ANSWER: (\d+), AUTHORITY: (\d+), ADDITIONAL: (\d+)", r.out)
    check(m, "dig printed no header counts", r.out)
    return tuple(int(x) for x in m.groups())


def reconf(ng, **resolver):
    """Rewrite [resolver] keys of the running config and wait for both daemons to load it."""
    text = ng.conf_text
    for k, v in resolver.items():
        text, n = re.subn(r"^%s = .*$" % k, "%s = %s" % (k, v), text, flags=re.M)
        if n == 0:
            text = text.replace("[resolver]\n", "[resolver]\n%s = %s\n" % (k, v), 1)
    m = ng.mark()
    ng.write_conf(text)
    want_event(ng, m, "config.load", timeout=6, count=2)


@test("90.deny.nxdomain-ede")
def t_nxdomain_ede(t):
    """The default answer to an off-list name is NXDOMAIN without an SOA (so
    nothing caches the denial), with EDE 15 (Blocked) whose text names the
    config; deny = refused gives REFUSED with EDE 18 (Prohibited); a client
    without EDNS gets no OPT record."""
    ng = t.namegate()
    check(not re.search(r"^deny\s*=", ng.conf_text, re.M), "the test must run the default deny", ng.conf_text)
    m = ng.mark()
    for tcp in (False, True):
        r = full_dig("blocked.lab.test", tcp=tcp)
        check(r.status == "NXDOMAIN" and not r.answers, "off-list (tcp=%s): want NXDOMAIN by default" % tcp, r.out)
        check(counts(r) == (1, 0, 0, 1), "NXDOMAIN with no SOA (authority empty), only the OPT record", r.out)
        e = ede(r)
        check(e and e[0] == 15 and e[1] == "Blocked", "EDE 15 (Blocked) on the NXDOMAIN", r.out)
        check("namegate" in e[2] and ng.conf in e[2] and "allowlist" in e[2],
              "the EDE text says it is namegate's policy and names the config file", e)
    want_event(ng, m, "dns.deny", name="blocked.lab.test", type="A", rcode="NXDOMAIN")

    # no EDNS in the query: no OPT in the reply (RFC 6891)
    r = full_dig("blocked.lab.test", extra=("+noedns",))
    check(r.status == "NXDOMAIN", "off-list without EDNS: NXDOMAIN", r.out)
    check(counts(r) == (1, 0, 0, 0) and "OPT PSEUDOSECTION" not in r.out and ede(r) is None,
          "a query without EDNS gets no OPT record", r.out)

    # the listed names are unaffected
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)

    reconf(ng, deny="refused")
    check(wait_until(lambda: dig("blocked.lab.test").status == "REFUSED", 3), "deny = refused: REFUSED",
          dig("blocked.lab.test"))
    r = full_dig("blocked.lab.test", "AAAA")
    e = ede(r)
    check(r.status == "REFUSED" and e and e[0] == 18 and e[1] == "Prohibited",
          "REFUSED carries EDE 18 (Prohibited)", r.out)
    check("namegate" in e[2] and ng.conf in e[2], "the EDE text names the config", e)
    check(counts(r) == (1, 0, 0, 1), "REFUSED: no records but the OPT", r.out)


def getent(what, name, resolv_conf):
    """getent in the sandbox as the agent, with resolv_conf as its /etc/resolv.conf."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec setpriv --reuid %d --regid %d --clear-groups ' \
             'getent "$1" "$2"' % (lab.AGENT_UID, lab.AGENT_UID)
    return run(["unshare", "-m", "sh", "-c", script, resolv_conf, what, name], ns=lab.SBX, check=False,
               timeout=20)


@test("91.deny.search-list-walks")
def t_search_list(t):
    """With `search corp.test lab.test` and ndots:5, the short name `www`
    (allowlisted as www.lab.test) resolves through glibc with both deny
    settings: www.corp.test is denied with NXDOMAIN, so glibc walks on. A
    denied name outside the search domains still gets what deny says."""
    d = t.lab.new_dir("91-resolv")
    rc = os.path.join(d, "resolv.conf")
    with open(rc, "w") as f:
        f.write("nameserver 127.0.0.1\nsearch corp.test lab.test\noptions ndots:5 timeout:2 attempts:1\n")
    os.chmod(rc, 0o644)
    ng = t.namegate(resolver={"resolv_conf": rc})
    for deny in ("default", "refused"):
        if deny != "default":
            reconf(ng, deny=deny)
        m = ng.mark()
        for what, want in (("hosts", "2001:db8:1::10"), ("ahosts", "192.0.2.10")):
            g = getent(what, "www", rc)
            check(g.returncode == 0 and want in g.stdout and "www.lab.test" in g.stdout,
                  "deny=%s: getent %s www walks the search list to www.lab.test" % (deny, what),
                  "rc=%d out=%r err=%r" % (g.returncode, g.stdout, g.stderr), ng.log_tail(8))
        want_event(ng, m, "dns.deny", name="www.corp.test", rcode="NXDOMAIN")
        r = dig("www.corp.test")
        check(r.status == "NXDOMAIN", "deny=%s: a name under a search domain gets NXDOMAIN" % deny, r)
        want_connect("192.0.2.10", 443)
        # whole labels: xcorp.test is not under corp.test
        want = "NXDOMAIN" if deny == "default" else "REFUSED"
        for name in ("www.xcorp.test", "other.test"):
            r = dig(name)
            check(r.status == want, "deny=%s: %s is outside the search list: %s" % (deny, name, want), r)
    p = ng.cmd("nfq", "--check-config")
    check(p.returncode == 0 and re.search(r"^;.*search.*corp\.test lab\.test", p.stdout, re.M),
          "--check-config shows the search domains as a comment", p.stdout, p.stderr)


def raw_query(opcode, edns=False):
    """A query for www.lab.test with the given opcode, over UDP, as the agent;
    the reply's header bytes and length."""
    code = r"""
import socket, struct, sys
op, edns = int(sys.argv[1]), sys.argv[2] == "1"
q = struct.pack(">HHHHHH", 0x4e47, (op << 11) | 0x0100, 1, 0, 0, 1 if edns else 0)
q += b"\x03www\x03lab\x04test\x00" + struct.pack(">HH", 1, 1)
if edns:
    q += b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("127.0.0.1", 53))
r = s.recv(4096)
print(r[:12].hex(), len(r))
"""
    p = run(["python3", "-c", code, str(opcode), "1" if edns else "0"], ns=lab.SBX, uid=lab.AGENT_UID, check=False)
    check(p.returncode == 0, "no answer to opcode %d" % opcode, p.stdout, p.stderr)
    h, n = p.stdout.split()
    return bytes.fromhex(h), int(n)


@test("92.deny.opcode-notimp-no-ra")
def t_opcode(t):
    """An unknown opcode gets NOTIMP with RA clear (and its ID, opcode and
    RD echoed); a standard query still gets RA."""
    t.namegate()
    for op in (3, 7, 15):
        for edns in (False, True):
            h, n = raw_query(op, edns)
            flags = (h[2] << 8) | h[3]
            check(h[:2] == b"\x4e\x47" and flags & 0x8000, "opcode %d: a reply with our ID" % op, h.hex())
            check((flags >> 11) & 0xf == op and flags & 0x0100, "opcode %d: opcode and RD echoed" % op, h.hex())
            check(flags & 0xf == 4, "opcode %d: NOTIMP" % op, h.hex())
            check(not flags & 0x0080, "opcode %d (edns=%s): RA must be clear on NOTIMP" % (op, edns), h.hex())
    h, n = raw_query(0)
    flags = (h[2] << 8) | h[3]
    check(flags & 0xf == 0 and flags & 0x0080, "a standard query: NOERROR with RA", h.hex())


@test("93.deny.ede-every-denial")
def t_ede_kinds(t):
    """Every local denial carries an EDE saying why: a name that is not a
    plain host name and a class other than IN (Blocked), a query type no
    client needs (NOTIMP, Not Supported); each text names namegate."""
    ng = t.namegate(start=False)
    # a long config path: the EDE text is cut to fit, never the reply
    longdir = os.path.join(ng.dir, "x" * 200, "y" * 200)
    os.makedirs(longdir)
    for dd in (longdir, os.path.dirname(longdir)):
        os.chmod(dd, 0o755)
    ng.conf = os.path.join(longdir, "sandbox.ini")
    ng.write_conf(ng.conf_text)
    ng.setup()
    ng.start(READY)
    cases = (
        ("odd\\.name.lab.test", "A", (), "NXDOMAIN", 15, "host name"),
        ("www.lab.test", "A", ("-c", "CH"), "NXDOMAIN", 15, "class"),
        ("www.lab.test", "TYPE65280", (), "NOTIMP", 21, "type"),
        ("blocked.lab.test", "TYPE0", (), "NOTIMP", 21, "type"),
    )
    for name, qtype, extra, status, code, word in cases:
        r = full_dig(name, qtype, extra=extra)
        e = ede(r)
        check(r.status == status, "%s %s %s: want %s" % (name, qtype, extra, status), r.out)
        check(e and e[0] == code and "namegate" in e[2] and word in e[2],
              "%s %s %s: EDE %d saying %r" % (name, qtype, extra, code, word), r.out)
        check(counts(r)[1:] == (0, 0, 1), "%s %s: no records but the OPT" % (name, qtype), r.out)
    # the reply to the longest name with the smallest EDNS buffer stays within it
    long_name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 50]) + ".test"
    r = full_dig(long_name, extra=("+bufsize=512", "+stats", "+ignore"))
    m = re.search(r"MSG SIZE\s+rcvd: (\d+)", r.out)
    check(r.status == "NXDOMAIN" and m and int(m.group(1)) <= 512 and ede(r), "a long name's denial fits 512 bytes",
          r.out)
    check("flags: qr rd ra;" in r.out, "not truncated", r.out)
