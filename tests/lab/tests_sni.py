"""By name on the wire: the TLS SNI and HTTP Host of an allowed connection
must name an allowed name that the resolver handed out for that address
(nfq/bind.h). A real TLS server (python ssl, self-signed certificates made
at test time, the certificate chosen by SNI) serves sni-good and sni-evil on
one address, 192.0.2.90 / 2001:db8:1::90; only sni-good is allowed. The
clients are python ssl (sniclient.py) as the agent. The lab's base config
turns the check off for the older tests (their listeners speak no TLS);
these turn it on, on ports of their own (tls_ports / http_ports)."""
import json
import os
import signal
import time

import lab
from lab import Fail, AGENT_UID, dig, run, wait_until
from tests_lab import BASE_ALLOW, check, test, want_answer, want_event

TLS_PORT = 8443
HTTP_PORT = 8081
V4, V6 = "192.0.2.90", "2001:db8:1::90"
GOOD, EVIL, OTHER = "sni-good.lab.test", "sni-evil.lab.test", "sni-other.lab.test"
ALLOW = BASE_ALLOW + ["domain = %s tcp/%d tcp/%d" % (GOOD, TLS_PORT, HTTP_PORT),
                      "domain = %s tcp/%d" % (OTHER, TLS_PORT)]
GATE = {"bind": "enforce", "tls_ports": "tcp/%d" % TLS_PORT, "http_ports": "tcp/%d" % HTTP_PORT}
HERE = os.path.dirname(os.path.abspath(__file__))


def server(t):
    """The TLS/HTTP server in the internet namespace, one per lab."""
    s = getattr(t.lab, "sniserver", None)
    if s is not None and s.alive():
        return s
    d = os.path.join(t.lab.dir, "net", "sni")
    os.makedirs(d, exist_ok=True)
    s = lab.Proc("sniserver", ["python3", "-u", os.path.join(HERE, "sniserver.py"), d, str(TLS_PORT),
                               str(HTTP_PORT), GOOD, EVIL, OTHER], os.path.join(d, "out"), ns=lab.NET)
    t.lab.procs.append(s)
    t.lab.sniserver = s
    if not wait_until(lambda: "ready" in s.tail() or not s.alive(), 10) or not s.alive():
        raise Fail("sniserver.py did not start:\n" + s.tail())
    return s


def sni(*args, timeout=3, **opts):
    extra = []
    for k, v in opts.items():
        extra += ["--" + k.replace("_", "-")] + ([] if v is True else [str(v)])
    p = run(["python3", os.path.join(HERE, "sniclient.py")] + [str(a) for a in args] + extra +
            ["--timeout", str(timeout)], ns=lab.SBX, uid=AGENT_UID, check=False, timeout=timeout + 10)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise Fail("sniclient.py %s printed nothing (rc %d): %s" % (args, p.returncode, p.stderr))


def up(t, gate=None, allow=None):
    server(t)
    g = dict(GATE)
    g.update(gate or {})
    ng = t.namegate(allow=allow or ALLOW, gate=g)
    want_answer(GOOD, "A", V4)
    want_answer(GOOD, "AAAA", V6)
    return ng


def want_tls(host, name, **kw):
    r = sni("tls", host, TLS_PORT, name, **kw)
    check(r["outcome"] == "connected" and r.get("name") == name, "TLS to %s as %s failed" % (host, name), r)
    return r


def want_reset(r, what):
    check(r["outcome"] == "reset" and r["ms"] < 1000, "%s was not reset at once" % what, r)


@test("100.sni.bound")
def t_bound(t):
    """The allowed name connects and moves 5 MB; the other name on the same
    address is reset and logged with the names the address was handed for."""
    ng = up(t)
    r = want_tls(V4, GOOD, bytes=5 * 1024 * 1024)
    check(r["bytes"] == 5 * 1024 * 1024, "short transfer", r)
    m = ng.mark()
    want_reset(sni("tls", V4, TLS_PORT, EVIL), "the off-list SNI")
    want_event(ng, m, "flow.deny", dst=V4, dport=TLS_PORT, reason="sni", sni=EVIL, names=GOOD, uid=AGENT_UID)
    # the check is per connection: the allowed name still works
    want_tls(V4, GOOD)


@test("101.sni.other-address")
def t_other(t):
    """An allowed name that was not handed out for this address is refused."""
    ng = up(t)
    want_answer(OTHER, "A", "192.0.2.91")
    m = ng.mark()
    want_reset(sni("tls", V4, TLS_PORT, OTHER), "an allowed name on an address not handed out for it")
    want_event(ng, m, "flow.deny", dst=V4, reason="sni", sni=OTHER, names=GOOD)


@test("102.sni.no-sni-not-tls")
def t_nosni(t):
    """TLS without server_name (https://ADDR) and plain text on a TLS port."""
    ng = up(t)
    m = ng.mark()
    want_reset(sni("tls", V4, TLS_PORT, "-"), "a hello without SNI")
    want_event(ng, m, "flow.deny", dst=V4, reason="no-sni", sni="-")
    m = ng.mark()
    want_reset(sni("raw", V4, TLS_PORT, "SSH-2.0-OpenSSH_9.2\\r\\n"), "SSH on a TLS port")
    want_event(ng, m, "flow.deny", dst=V4, reason="not-tls")


@test("103.sni.split")
def t_split(t):
    """A ClientHello in 2 and 3 segments, the SNI in the last: judged on
    the segment that completes it, both ways."""
    ng = up(t)
    for n in (2, 3):
        want_tls(V4, GOOD, split=n)
        m = ng.mark()
        want_reset(sni("tls", V4, TLS_PORT, EVIL, split=n), "a split hello with the off-list SNI")
        want_event(ng, m, "flow.deny", dst=V4, reason="sni", sni=EVIL)
    # an HTTP request in pieces: the same
    r = sni("raw", V4, HTTP_PORT, "GET / HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % GOOD, split=3)
    check(r["outcome"] == "connected" and "host=" + GOOD in r.get("reply", ""), "split HTTP request", r)
    want_reset(sni("raw", V4, HTTP_PORT, "GET / HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % EVIL, split=3), "split Host")


@test("104.sni.http-host")
def t_http(t):
    """Plain HTTP: the Host of the first request is bound the same way."""
    ng = up(t)
    r = sni("raw", V4, HTTP_PORT, "GET / HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n" % GOOD)
    check(r["outcome"] == "connected" and "host=" + GOOD in r.get("reply", ""), "HTTP with the allowed Host", r)
    m = ng.mark()
    want_reset(sni("raw", V4, HTTP_PORT, "GET / HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % EVIL), "an off-list Host")
    want_event(ng, m, "flow.deny", dst=V4, dport=HTTP_PORT, reason="host", host=EVIL, names=GOOD)
    m = ng.mark()
    want_reset(sni("raw", V4, HTTP_PORT, "GET http://%s/ HTTP/1.1\\r\\nHost: %s\\r\\n\\r\\n" % (EVIL, GOOD)),
               "an absolute-form request")
    want_event(ng, m, "flow.deny", dst=V4, dport=HTTP_PORT, reason="not-http")


@test("105.sni.audit")
def t_audit(t):
    """bind = audit: logged as flow.audit with the same reason, let through."""
    ng = up(t, gate={"bind": "audit"})
    m = ng.mark()
    want_tls(V4, EVIL)
    want_event(ng, m, "flow.audit", dst=V4, reason="sni", sni=EVIL, names=GOOD)


@test("106.sni.gate-killed")
def t_killed(t):
    """The gate dies while a connection waits for its first payload: that
    connection's hello is dropped in the kernel, never let through; after a
    restart a new connection works."""
    ng = up(t)
    flag = os.path.join(t.lab.dir, "sni-go.%d" % os.getpid())
    if os.path.exists(flag):
        os.unlink(flag)
    out = os.path.join(t.lab.dir, "sni-killed.out")
    p = lab.Proc("sniclient", ["setpriv", "--reuid", str(AGENT_UID), "--regid", str(AGENT_UID), "--clear-groups",
                               "python3", os.path.join(HERE, "sniclient.py"), "tls", V4, str(TLS_PORT), EVIL,
                               "--wait-file", flag, "--timeout", "3"], out, ns=lab.SBX)
    t.procs.append(p)
    time.sleep(0.5)  # connected, nothing sent yet
    ng.nfq.stop(signal.SIGKILL)
    open(flag, "w").close()
    check(wait_until(lambda: not p.alive(), 10), "client did not finish", p.tail())
    r = json.loads(open(out).read().strip().splitlines()[-1])
    check(r["outcome"] in ("timeout", "reset", "error") and r.get("name") is None,
          "the pending connection got through with the gate down", r)
    ng.start_nfq()
    # the new gate reads the names of the set's entries back: no new
    # lookup is needed
    check(wait_until(lambda: sni("tls", V4, TLS_PORT, GOOD).get("name") == GOOD, 5, 0.2),
          "the allowed name does not connect after the restart", sni("tls", V4, TLS_PORT, GOOD))
    want_tls(V4, GOOD)
    want_reset(sni("tls", V4, TLS_PORT, EVIL), "the off-list SNI after the restart")


@test("107.sni.ipv6")
def t_v6(t):
    """IPv6 the same as IPv4."""
    ng = up(t)
    r = want_tls(V6, GOOD, bytes=1024 * 1024, split=2)
    check(r["bytes"] == 1024 * 1024, "short transfer", r)
    m = ng.mark()
    want_reset(sni("tls", V6, TLS_PORT, EVIL), "the off-list SNI over IPv6")
    want_event(ng, m, "flow.deny", dst=V6, reason="sni", sni=EVIL, names=GOOD)
    want_reset(sni("tls", V6, TLS_PORT, "-"), "no SNI over IPv6")


@test("108.sni.static-network")
def t_network(t):
    """A static network line needs no name: its rule comes first."""
    up(t, allow=ALLOW + ["network = %s/32 tcp/%d" % (V4, TLS_PORT)])
    want_tls(V4, EVIL)


def tfo_passive():
    p = run(["nstat", "-az", "TcpExtTCPFastOpenPassive"], ns=lab.NET, check=False)
    for ln in p.stdout.splitlines():
        if ln.startswith("TcpExtTCPFastOpenPassive"):
            return int(ln.split()[1])
    return 0


@test("109.sni.fastopen")
def t_fastopen(t):
    """TCP Fast Open puts the ClientHello in the SYN: the SYN is judged like
    any first flight, never let through on the pending mark alone."""
    run(["sysctl", "-qw", "net.ipv4.tcp_fastopen=3"], ns=lab.NET)
    ng = up(t)
    run(["sysctl", "-qw", "net.ipv4.tcp_fastopen=1"], ns=lab.SBX)
    n0 = tfo_passive()
    r = sni("tls", V4, TLS_PORT, GOOD, fastopen=True)
    check(r["outcome"] == "connected" and r.get("name") == GOOD, "the allowed name over Fast Open", r)
    check(tfo_passive() > n0, "the server took no data from a SYN: Fast Open was not used")
    m = ng.mark()
    n1 = tfo_passive()
    r = sni("tls", V4, TLS_PORT, EVIL, fastopen=True)
    check(r["outcome"] != "connected" and r.get("name") is None, "the off-list SNI in a SYN got through", r)
    check(tfo_passive() == n1, "the server took the off-list hello from a SYN (%d times)" % (tfo_passive() - n1))
    want_event(ng, m, "flow.deny", dst=V4, reason="sni", sni=EVIL)
