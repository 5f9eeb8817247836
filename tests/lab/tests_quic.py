"""By name on the wire, over QUIC: a new UDP flow to a port of [gate]
quic_ports that the sets admitted must open with a QUIC Initial whose
ClientHello names a name the resolver handed out for that address, on that
port (nfq/quic.h, nfq/bind.c). A real QUIC server (ngtcp2's gtlsserver,
self-signed) in the internet namespace on every address; the clients are
ngtcp2's gtlsclient (the agent's real QUIC stack) and quicraw.py (hand-made
Initials, for two connections on one flow). The names are tests_sni.py's:
sni-good and sni-evil live on one address, 192.0.2.90 / 2001:db8:1::90,
only sni-good is allowed, on udp/QUIC_PORT."""
import json
import os
import re

import lab
from lab import Fail, AGENT_UID, run, wait_until
from tests_lab import BASE_ALLOW, check, test, want_event, want_refused, no_event
import tests_sni
from tests_sni import V4, V6, GOOD, EVIL

QUIC_PORT = 8443
ALLOW = BASE_ALLOW + ["domain = %s udp/%d" % (GOOD, QUIC_PORT)]
GATE = {"bind": "enforce", "quic_ports": "udp/%d" % QUIC_PORT}
HERE = os.path.dirname(os.path.abspath(__file__))
BODY = "quic-body-" + "x" * 20
# FFDHE8192's key share is 1 KiB: gtlsclient's hello then takes two
# Initial datagrams, as a post-quantum key share does.
BIG_HELLO = "--groups=-GROUP-ALL:+GROUP-FFDHE8192:+GROUP-X25519"


def server(t):
    """gtlsserver on every address of the internet namespace, one per lab."""
    s = getattr(t.lab, "quicserver", None)
    if s is not None and s.alive():
        return s
    d = os.path.join(t.lab.dir, "net", "quic")
    os.makedirs(os.path.join(d, "htdocs"), exist_ok=True)
    with open(os.path.join(d, "htdocs", "index.html"), "w") as f:
        f.write(BODY + "\n")
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + GOOD])
    # every address, v4 and v6, one server each. The lab's addresses are
    # local routes; gtlsserver answers from the address it was reached on
    # (IPV6_PKTINFO), which Linux refuses unless it is assigned: assign V6.
    run(["ip", "-6", "addr", "add", V6 + "/128", "dev", "lo", "nodad"], ns=lab.NET, check=False)
    for addr in ("0.0.0.0", "::"):
        p = lab.Proc("gtlsserver", ["gtlsserver", "-q", "-d", os.path.join(d, "htdocs"), addr, str(QUIC_PORT), key,
                                    crt], os.path.join(d, "out" + addr.replace(":", "6")), ns=lab.NET)
        t.lab.procs.append(p)
        if wait_until(lambda: not p.alive(), 0.5):
            raise Fail("gtlsserver did not start:\n" + p.tail())
    t.lab.quicserver = p
    return p


def quic(t, host, name, extra=(), timeout=5):
    """gtlsclient as the agent: fetches /index.html from host, with name as
    the SNI. gtlsclient takes the SNI from the host name it connects to
    (its --sni is ignored in Debian 12's 0.12), so name is mapped to host
    in an /etc/hosts of the client's own mount namespace. True if the body
    came."""
    hosts = os.path.join(t.lab.dir, "quic-hosts-" + host.replace(":", "_"))
    with open(hosts, "w") as f:
        f.write("%s %s\n" % (host, name))
    cmd = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts,
           "setpriv", "--reuid", str(AGENT_UID), "--regid", str(AGENT_UID), "--clear-groups",
           "gtlsclient", "--no-quic-dump", "--exit-on-all-streams-close", "--timeout=%ds" % timeout,
           "--handshake-timeout=%ds" % timeout] + list(extra) + [name, str(QUIC_PORT), "https://%s/index.html" % name]
    p = run(cmd, ns=lab.SBX, check=False, timeout=timeout + 10)
    # the body comes as a hex dump: its text column, 16 bytes a line
    text = "".join(ln.rsplit("|", 2)[1] for ln in (p.stdout + p.stderr).splitlines()
                   if re.match(r"^[0-9a-f]{8}  ", ln) and ln.count("|") >= 2)
    t.last_quic = "\n".join((p.stdout + p.stderr).splitlines()[-12:])
    return BODY in text


def raw(host, *names):
    p = run(["python3", os.path.join(HERE, "quicraw.py"), host, str(QUIC_PORT)] + list(names) +
            ["--timeout", "1.5"], ns=lab.SBX, uid=AGENT_UID, check=False, timeout=30)
    try:
        return {r["name"]: r["outcome"] for r in json.loads(p.stdout.strip().splitlines()[-1])}
    except (ValueError, IndexError):
        raise Fail("quicraw.py printed nothing (rc %d): %s" % (p.returncode, p.stderr))


def up(t, gate=None, allow=None):
    server(t)
    g = dict(GATE)
    g.update(gate or {})
    return tests_sni.up(t, gate=g, allow=allow or ALLOW)


def want_quic(t, host, sni, extra=()):
    check(quic(t, host, sni, extra), "QUIC to %s as %s did not fetch the page" % (host, sni), t.last_quic)


def want_denied(t, ng, host, name, reason, extra=(), **match):
    m = ng.mark()
    check(not quic(t, host, name, extra, timeout=2), "QUIC to %s as %s got through" % (host, name), t.last_quic)
    want_event(ng, m, "flow.deny", dst=host, dport=QUIC_PORT, proto="udp", reason=reason, uid=AGENT_UID,
               **match)


@test("130.quic.bound")
def t_bound(t):
    """The allowed name connects over QUIC and fetches a page; the other
    name on the same address is denied and logged with the names the
    address was handed out for; a second connection on a flow already
    judged (QUIC tells connections apart by ID, not by ports) is judged
    too."""
    ng = up(t)
    want_quic(t, V4, GOOD)
    want_denied(t, ng, V4, EVIL, "sni", sni=EVIL, names=GOOD)
    want_quic(t, V4, GOOD)
    m = ng.mark()
    r = raw(V4, GOOD, EVIL)
    check(r[GOOD] == "answered", "the allowed hand-made Initial got no answer", r)
    check(r[EVIL] == "refused", "a second connection on the judged flow, off-list SNI, was not refused", r)
    want_event(ng, m, "flow.deny", dst=V4, dport=QUIC_PORT, reason="sni", sni=EVIL, names=GOOD)


@test("131.quic.split")
def t_split(t):
    """A ClientHello over two Initial datagrams (a 1 KiB key share): judged
    on the datagram that completes it, both ways."""
    ng = up(t)
    want_quic(t, V4, GOOD, [BIG_HELLO])
    want_denied(t, ng, V4, EVIL, "sni", [BIG_HELLO], sni=EVIL)


@test("132.quic.no-sni-not-quic")
def t_nosni(t):
    """QUIC without server_name (to the bare address), and UDP that is no
    QUIC at all on a QUIC port: denied, the latter refused at once."""
    ng = up(t)
    m = ng.mark()
    r = raw(V4, "-")
    check(r["-"] == "refused", "a hello without server_name was not refused", r)
    want_event(ng, m, "flow.deny", dst=V4, dport=QUIC_PORT, reason="no-sni", sni="-")
    m = ng.mark()
    want_refused(V4, QUIC_PORT, "udp")
    want_event(ng, m, "flow.deny", dst=V4, dport=QUIC_PORT, reason="not-quic")


@test("133.quic.ipv6")
def t_v6(t):
    """IPv6 the same as IPv4."""
    ng = up(t)
    want_quic(t, V6, GOOD)
    want_quic(t, V6, GOOD, [BIG_HELLO])
    want_denied(t, ng, V6, EVIL, "sni", sni=EVIL, names=GOOD)
    m = ng.mark()
    r = raw(V6, GOOD, EVIL, "-")
    check(r == {GOOD: "answered", EVIL: "refused", "-": "refused"}, "hand-made Initials over IPv6", r)
    want_event(ng, m, "flow.deny", dst=V6, dport=QUIC_PORT, reason="no-sni")
    m = ng.mark()
    want_refused(V6, QUIC_PORT, "udp")
    want_event(ng, m, "flow.deny", dst=V6, dport=QUIC_PORT, reason="not-quic")


@test("134.quic.audit-off")
def t_audit(t):
    """bind = audit: logged as flow.audit with the same reason, let through;
    bind = off: today's behaviour, the address alone decides."""
    ng = up(t, gate={"bind": "audit"})
    m = ng.mark()
    want_quic(t, V4, EVIL)
    want_event(ng, m, "flow.audit", dst=V4, dport=QUIC_PORT, reason="sni", sni=EVIL, names=GOOD)
    ng.close()
    ng = up(t, gate={"bind": "off"})
    m = ng.mark()
    want_quic(t, V4, EVIL)
    # The client's flow is not judged. (A late datagram of the audit run's
    # server to that run's client may arrive here as a new inbound flow and
    # be denied as such: that is not this flow.)
    no_event(ng, m, "flow.deny", dst=V4, dport=str(QUIC_PORT))
