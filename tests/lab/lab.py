"""namegate lab harness (python3 stdlib only).

Two network namespaces joined by a veth pair:

  nglab-sbx  (sandbox)   198.18.0.2/24  2001:db8:ff::2/64   namegate runs here,
                                                            clients run as uid 4242
  nglab-net  (internet)  198.18.0.1/24  2001:db8:ff::1/64
      lo: 198.51.100.53 + 2001:db8:53::53   unbound (recursive, stub to nsd)
          198.51.100.54                     nsd, authoritative for lab.test.
          local routes for 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
          2001:db8::/32, so listeners answer on every address the zone hands out
      198.51.100.99: routed here but dropped (the silent upstream)
      listeners: TCP 22 80 443 853 8080 ("ok\\n" + echo), UDP 443 echo

Nothing is routed anywhere else: no packet leaves the two namespaces.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SBX = "nglab-sbx"
NET = "nglab-net"
AGENT_UID = 4242
SILENT_UPSTREAM = "198.51.100.99"
UPSTREAM4 = "198.51.100.53"
UPSTREAM6 = "2001:db8:53::53"
AUTH4 = "198.51.100.54"
TCP_PORTS = [22, 80, 443, 853, 8080]
UDP_PORTS = [443]


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def run(cmd, ns=None, check=True, timeout=30, input=None, uid=None, env=None):
    """Run cmd (a list), optionally inside a namespace and as an unprivileged uid.
    Returns CompletedProcess with text stdout/stderr."""
    full = list(cmd)
    if uid is not None:
        full = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups"] + full
    if ns:
        full = ["ip", "netns", "exec", ns] + full
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input, env=env)
    except subprocess.TimeoutExpired as e:
        raise Fail("command timed out after %ss: %s" % (timeout, " ".join(full))) from e
    if check and p.returncode != 0:
        raise Fail("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(full), p.stdout, p.stderr))
    return p


def wait_until(fn, timeout, interval=0.05, what="condition"):
    """Poll fn() until it returns a truthy value; returns it, or None on deadline."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


# ---------------------------------------------------------------- logfmt

_LOGFMT = re.compile(r'\s*([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "n":
                out.append("\n")
            elif n == "t":
                out.append("\t")
            elif n == "r":
                out.append("\r")
            elif n == "x" and i + 3 < len(s):
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 2
            else:
                out.append(n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_logfmt(line):
    """'ts=... event=x name="a b"' -> dict; also accepts JSON lines."""
    line = line.strip()
    if line.startswith("{"):
        try:
            return {k: str(v) for k, v in json.loads(line).items()}
        except ValueError:
            return {}
    d = {}
    for m in _LOGFMT.finditer(line):
        v = m.group(2)
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = _unescape(v[1:-1])
        d[m.group(1)] = v
    return d


# ---------------------------------------------------------------- dig

class DigResult:
    def __init__(self, proc, ms):
        self.rc = proc.returncode
        self.ms = ms
        self.out = proc.stdout + proc.stderr
        m = re.search(r"status: (\w+)", proc.stdout)
        self.status = m.group(1) if m else None
        self.answers = []  # (name, ttl, type, rdata)
        for ln in proc.stdout.splitlines():
            if not ln or ln.startswith(";"):
                continue
            f = ln.split(None, 4)
            if len(f) == 5 and f[2] == "IN":
                self.answers.append((f[0].rstrip(".").lower(), int(f[1]), f[3], f[4]))

    def addrs(self, rtype=None):
        return [a[3] for a in self.answers if a[2] in ((rtype,) if rtype else ("A", "AAAA"))]

    def __repr__(self):
        return "dig(status=%s rc=%s ms=%.0f answers=%s)" % (self.status, self.rc, self.ms, self.answers)


def dig(name, qtype="A", server="127.0.0.1", tcp=False, uid=AGENT_UID, ns=SBX, timeout=2, extra=()):
    cmd = ["dig", "+time=%d" % timeout, "+tries=1", "+noall", "+comments", "+answer", "+nocookie",
           "@" + server, name, qtype]
    if tcp:
        cmd.insert(1, "+tcp")
    cmd += list(extra)
    t0 = time.monotonic()
    p = run(cmd, ns=ns, uid=uid, check=False, timeout=timeout * 3 + 5)
    return DigResult(p, (time.monotonic() - t0) * 1000)


def client(*args, ns=SBX, uid=AGENT_UID, timeout=10):
    """tests/lab/client.py in the sandbox as the agent; returns its JSON lines."""
    p = run(["python3", os.path.join(HERE, "client.py")] + [str(a) for a in args],
            ns=ns, uid=uid, check=False, timeout=timeout)
    res = []
    for ln in p.stdout.splitlines():
        try:
            res.append(json.loads(ln))
        except ValueError:
            pass
    if not res:
        raise Fail("client.py %s printed nothing (rc %d): %s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return res


def connect(host, port, proto="tcp", timeout=1.5, **kw):
    r = client(proto, host, port, "--timeout", timeout, **kw)[0]
    return r


# ---------------------------------------------------------------- ipset / iptables

def ipset_members(setname, ns=SBX):
    p = run(["ipset", "list", setname], ns=ns, check=False)
    if p.returncode != 0:
        return None
    members, inm = [], False
    for ln in p.stdout.splitlines():
        if ln.startswith("Members:"):
            inm = True
            continue
        if inm and ln.strip():
            f = ln.split()
            d = {"entry": f[0]}
            m = re.search(r"timeout (\d+)", ln)
            d["timeout"] = int(m.group(1)) if m else None
            m = re.search(r'comment "((?:[^"\\]|\\.)*)"', ln)
            d["comment"] = m.group(1) if m else None
            members.append(d)
    return members


def ipset_entry(setname, ip, proto, port, ns=SBX):
    ms = ipset_members(setname, ns) or []
    want = "%s,%s:%d" % (ip, proto, port)
    for m in ms:
        if m["entry"] == want:
            return m
    return None


def rules_save(family=4, table="filter", ns=SBX):
    """iptables-save of one table, minus comments and counters."""
    tool = "iptables-save" if family == 4 else "ip6tables-save"
    p = run([tool, "-t", table], ns=ns)
    lines = []
    for ln in p.stdout.splitlines():
        if ln.startswith("#"):
            continue
        ln = re.sub(r"\[\d+:\d+\]", "", ln).rstrip()
        ln = re.sub(r"^(-A .*) -c \d+ \d+", r"\1", ln)
        lines.append(ln)
    return "\n".join(lines)


# ---------------------------------------------------------------- processes

class Proc:
    """A background process whose output goes to a file."""

    def __init__(self, name, cmd, logpath, ns=None):
        self.name = name
        self.logpath = logpath
        full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
        self.f = open(logpath, "ab")
        self.p = subprocess.Popen(full, stdout=self.f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def send(self, sig):
        if self.alive():
            os.kill(self.p.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=3):
        if self.alive():
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        self.f.close()
        return self.p.returncode

    def tail(self, n=30):
        return file_tail(self.logpath, n)


# Sanitizer builds (tests/run's asan section): a report in a daemon's output
# fails the test that ran the daemon, whatever else the test saw. So does a
# daemon that does not exit cleanly on SIGTERM (LeakSanitizer only runs at a
# clean exit). run.py reads and clears this list around every test.
SANITIZER_RE = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)|runtime error: |"
                          r"SUMMARY: (?:UndefinedBehavior|Address|Leak)Sanitizer|"
                          r"LeakSanitizer has encountered a fatal error|AddressSanitizer:DEADLYSIGNAL")
sanitizer_reports = []
_scanned = {}


def scan_sanitizer(what, text):
    m = SANITIZER_RE.search(text)
    if m:
        sanitizer_reports.append("%s:\n%s" % (what, text[max(0, m.start() - 200):m.start() + 4000]))


def scan_sanitizer_file(what, path):
    """Scan what a daemon wrote to path since the last scan."""
    try:
        with open(path, "r", errors="replace") as f:
            f.seek(_scanned.get(path, 0))
            text = f.read()
            _scanned[path] = f.tell()
    except OSError:
        return
    scan_sanitizer("%s (%s)" % (what, path), text)


def file_tail(path, n=30):
    try:
        with open(path, "r", errors="replace") as f:
            lines = f.readlines()
    except OSError as e:
        return "(%s)" % e
    return "".join(lines[-n:])


def netns_pids(ns):
    p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def kill_netns_procs(ns):
    """Kill, one pid at a time, the processes left in a namespace this lab made."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = netns_pids(ns)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        wait_until(lambda: not netns_pids(ns), 2)


def netns_exists(ns):
    return os.path.exists("/run/netns/" + ns)


def delete_netns(ns):
    if netns_exists(ns):
        kill_netns_procs(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def cleanup_all():
    for ns in (SBX, NET):
        delete_netns(ns)


# ---------------------------------------------------------------- the lab

NSD_CONF = """server:
    ip-address: {auth}
    port: 53
    username: ""
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 1
    hide-version: yes
    do-ip6: no
remote-control:
    control-enable: no
zone:
    name: "lab.test"
    zonefile: "lab.test.zone"
"""

UNBOUND_CONF = """server:
    interface: {up4}
    interface: {up6}
    interface: {up4}@5353
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    logfile: "{d}/unbound.log"
    use-syslog: no
    log-time-ascii: yes
    log-queries: yes
    verbosity: 1
    num-threads: 1
    do-ip4: yes
    do-ip6: yes
    access-control: 198.18.0.0/15 allow
    access-control: 2001:db8::/32 allow
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    domain-insecure: "test"
    module-config: "iterator"
    local-zone: "test." nodefault
    local-zone: "lab.test." transparent
    local-zone: "." refuse
    local-zone: "db." static
    local-data: "db. 300 IN A 198.18.0.1"
    local-data: "db. 300 IN AAAA 2001:db8:ff::1"
    cache-max-ttl: 300
    cache-max-negative-ttl: 1
    root-hints: ""
remote-control:
    control-enable: no
stub-zone:
    name: "lab.test"
    stub-addr: {auth}
"""


class Lab:
    def __init__(self, build, keep=False):
        self.build = os.path.abspath(build)
        self.keep = keep
        self.dir = None
        self.procs = []
        self.nfq_bin = os.path.join(self.build, "nfq", "namegate-nfq")
        self.resolver_bin = os.path.join(self.build, "resolver", "namegate-resolver")
        self.ng_uid = None
        self.counter = 0

    # -- lifecycle

    def start(self):
        cleanup_all()
        self.dir = tempfile.mkdtemp(prefix="nglab-")
        os.chmod(self.dir, 0o755)
        try:
            import pwd
            self.ng_uid = pwd.getpwnam("namegate").pw_uid
        except KeyError:
            self.ng_uid = None
        self._make_net()
        self.make_sbx()
        self._start_servers()
        self.warm_up()

    def fresh_sbx(self):
        self.make_sbx()
        self.warm_up()

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []
        cleanup_all()
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _make_net(self):
        subprocess.run(["ip", "netns", "add", NET], check=True)
        cmds = [
            "sysctl -qw net.ipv6.conf.all.accept_dad=0",
            "sysctl -qw net.ipv6.conf.default.accept_dad=0",
            "ip link set lo up",
            "ip addr add 198.51.100.53/32 dev lo",
            "ip addr add 198.51.100.54/32 dev lo",
            "ip -6 addr add 2001:db8:53::53/128 dev lo nodad",
            # every destination address the zone hands out is local here
            "ip route add local 192.0.2.0/24 dev lo table main",
            "ip route add local 198.51.100.0/24 dev lo table main",
            "ip route add local 203.0.113.0/24 dev lo table main",
            "ip -6 route add local 2001:db8::/32 dev lo table main",
            # the silent upstream: routed here, dropped without an answer
            "iptables -A INPUT -d %s -j DROP" % SILENT_UPSTREAM,
        ]
        for c in cmds:
            run(c.split(), ns=NET)

    def make_sbx(self):
        """(Re)create the sandbox namespace and the veth pair to the internet."""
        # deleting one end of the veth removes the pair at once (a namespace
        # deletion does it asynchronously)
        if netns_exists(NET):
            subprocess.run(["ip", "-n", NET, "link", "del", "ngv-net"], capture_output=True)
        delete_netns(SBX)
        run(["ip", "netns", "add", SBX])
        run(["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"], ns=SBX)
        run(["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"], ns=SBX)
        run(["ip", "link", "add", "ngv-sbx", "netns", SBX, "type", "veth", "peer", "name", "ngv-net", "netns", NET])
        for c in [
            "ip link set lo up",
            "ip addr add 198.18.0.2/24 dev ngv-sbx",
            "ip -6 addr add 2001:db8:ff::2/64 dev ngv-sbx nodad",
            "ip link set ngv-sbx up",
            "ip route add default via 198.18.0.1",
            "ip -6 route add default via 2001:db8:ff::1",
        ]:
            run(c.split(), ns=SBX)
        for c in [
            "ip addr add 198.18.0.1/24 dev ngv-net",
            "ip -6 addr add 2001:db8:ff::1/64 dev ngv-net nodad",
            "ip link set ngv-net up",
        ]:
            run(c.split(), ns=NET)
        # v6 link up (nodad: usable at once, but the link needs its carrier)
        if not wait_until(lambda: "LOWER_UP" in run(["ip", "link", "show", "ngv-sbx"], ns=SBX).stdout, 5):
            raise Fail("veth did not come up")

    def warm_up(self):
        """Both families reach the internet namespace (neighbours resolved)."""
        for host in ("192.0.2.10", "2001:db8:1::10"):
            if not wait_until(lambda: connect(host, 80, timeout=0.3, uid=None)["outcome"] == "connected", 5):
                raise Fail("lab: sandbox cannot reach %s:80 before namegate" % host)

    def _start_servers(self):
        d = os.path.join(self.dir, "net")
        os.makedirs(d)
        shutil.copy(os.path.join(HERE, "lab.test.zone"), d)
        with open(os.path.join(d, "nsd.conf"), "w") as f:
            f.write(NSD_CONF.format(d=d, auth=AUTH4))
        with open(os.path.join(d, "unbound.conf"), "w") as f:
            f.write(UNBOUND_CONF.format(d=d, up4=UPSTREAM4, up6=UPSTREAM6, auth=AUTH4))
        self.unbound_log = os.path.join(d, "unbound.log")
        self.nsd = Proc("nsd", ["nsd", "-d", "-c", os.path.join(d, "nsd.conf")], os.path.join(d, "nsd.out"), ns=NET)
        self.procs.append(self.nsd)
        self.unbound = Proc("unbound", ["unbound", "-d", "-c", os.path.join(d, "unbound.conf")],
                            os.path.join(d, "unbound.out"), ns=NET)
        self.procs.append(self.unbound)
        lcmd = ["python3", "-u", os.path.join(HERE, "listener.py"), "serve", "--tcp"] + \
            [str(p) for p in TCP_PORTS] + ["--udp"] + [str(p) for p in UDP_PORTS]
        self.listener = Proc("listener", lcmd, os.path.join(d, "listener.out"), ns=NET)
        self.procs.append(self.listener)

        def ready():
            for p in self.procs:
                if not p.alive():
                    raise Fail("%s exited: %s" % (p.name, p.tail()))
            r = dig("www.lab.test", "A", server=UPSTREAM4, uid=None, timeout=1)
            return r.status == "NOERROR" and "192.0.2.10" in r.addrs() and \
                "ready" in file_tail(self.listener.logpath)
        if not wait_until(ready, 15, 0.1):
            raise Fail("lab servers not ready:\nnsd: %s\nunbound: %s\nlistener: %s" % (
                self.nsd.tail(), self.unbound.tail(), self.listener.tail()))

    # -- helpers

    def unbound_mark(self):
        try:
            return os.path.getsize(self.unbound_log)
        except OSError:
            return 0

    def unbound_since(self, mark):
        try:
            with open(self.unbound_log, "r", errors="replace") as f:
                f.seek(mark)
                return f.read()
        except OSError:
            return ""

    def new_dir(self, name):
        self.counter += 1
        d = os.path.join(self.dir, "%02d-%s" % (self.counter, re.sub(r"[^A-Za-z0-9_.-]", "_", name)))
        os.makedirs(d)
        os.chmod(d, 0o755)
        return d


# ---------------------------------------------------------------- namegate

def ini(allow, resolver=None, gate=None, logsec=None, extra=""):
    """sandbox.ini text. allow: list of 'domain = ...' / 'network = ...' lines
    (bare names become domain lines)."""
    r = {"listen": "127.0.0.1:53 [::1]:53", "upstream": UPSTREAM4}
    r.update(resolver or {})
    g = dict(gate or {})
    # The lab's listeners on 443/80 speak no TLS or HTTP ("ok" + echo):
    # tests that do not ask for the binding go without it (tests_sni.py
    # turns it on; the shipped default is enforce).
    g.setdefault("bind", "off")
    lg = dict(logsec or {})
    s = "[resolver]\n" + "".join("%s = %s\n" % kv for kv in r.items() if kv[1] is not None)
    s += "\n[gate]\n" + "".join("%s = %s\n" % kv for kv in g.items() if kv[1] is not None)
    s += "\n[log]\n" + "".join("%s = %s\n" % kv for kv in lg.items() if kv[1] is not None)
    s += "\n[allow]\n"
    for a in allow:
        s += (a if "=" in a else "domain = " + a) + "\n"
    return s + extra


class Namegate:
    """One namegate configuration in the sandbox namespace: setup, both daemons,
    teardown. Config, socket and log live in a per-test directory."""

    def __init__(self, lab, name, conf_text):
        self.lab = lab
        self.dir = lab.new_dir(name)
        self.conf = os.path.join(self.dir, "sandbox.ini")
        self.sock = os.path.join(self.dir, "run", "gate.sock")
        self.logfile = os.path.join(self.dir, "namegate.log")
        self.nfq = None
        self.resolver = None
        self.set_up = False
        self.write_conf(conf_text)

    def fill(self, text):
        """Insert the per-test paths (socket, log) unless the text sets them."""
        if "socket" not in text:
            text = text.replace("[gate]\n", "[gate]\nsocket = %s\n" % self.sock, 1)
        if re.search(r"^\s*file\s*=", text, re.M) is None:
            text = text.replace("[log]\n", "[log]\nfile = %s\n" % self.logfile, 1)
        return text

    def write_conf(self, text, how="inplace"):
        text = self.fill(text)
        self.conf_text = text
        if how == "rename":
            tmp = self.conf + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.rename(tmp, self.conf)
        else:
            with open(self.conf, "w") as f:  # same inode, truncated and rewritten
                f.write(text)
            os.chmod(self.conf, 0o644)

    # -- commands

    def cmd(self, which, *args, timeout=15, check=False, ns=SBX):
        b = self.lab.nfq_bin if which == "nfq" else self.lab.resolver_bin
        p = run([b, "-c", self.conf] + list(args), ns=ns, check=check, timeout=timeout)
        scan_sanitizer("%s %s" % (os.path.basename(b), " ".join(args)), p.stdout + p.stderr)
        return p

    def setup(self):
        p = self.cmd("nfq", "--setup")
        if p.returncode != 0:
            raise Fail("namegate-nfq --setup exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr))
        self.set_up = True
        return p

    def teardown(self):
        p = self.cmd("nfq", "--teardown")
        self.set_up = False
        return p

    def start_nfq(self):
        try:
            # a stale socket from a killed gate: wait for a new one (tmpfs
            # reuses inode numbers, so compare the change time too)
            st = os.stat(self.sock)
            old = (st.st_ino, st.st_ctime_ns)
        except OSError:
            old = None
        self.nfq = Proc("namegate-nfq", [self.lab.nfq_bin, "-c", self.conf],
                        os.path.join(self.dir, "nfq.stderr"), ns=SBX)

        def up():
            if not self.nfq.alive():
                raise Fail("namegate-nfq exited %s:\n%s" % (self.nfq.p.returncode, self.nfq.tail()))
            try:
                st = os.stat(self.sock)
            except OSError:
                return False
            return old is None or (st.st_ino, st.st_ctime_ns) != old
        if not wait_until(up, 5):
            raise Fail("gate socket %s did not appear:\n%s" % (self.sock, self.nfq.tail()))

    def start_resolver(self):
        self.resolver = Proc("namegate-resolver", [self.lab.resolver_bin, "-c", self.conf],
                             os.path.join(self.dir, "resolver.stderr"), ns=SBX)

    def wait_ready(self, name, timeout=8):
        """Poll until the resolver answers: NOERROR for an allowed name, or any
        answer when name is None."""
        last = [None]

        def ok():
            for p in (self.nfq, self.resolver):
                if p is not None and not p.alive():
                    raise Fail("%s exited %s:\n%s" % (p.name, p.p.returncode, p.tail()))
            r = dig(name or "ready-probe.lab.test", uid=None, timeout=1)
            last[0] = r
            return r.status == "NOERROR" if name else r.status is not None
        if not wait_until(ok, timeout, 0.05):
            raise Fail("resolver not ready after %ss (last: %r)\nresolver:\n%s\nnfq:\n%s" % (
                timeout, last[0], self.resolver.tail() if self.resolver else "", self.nfq.tail() if self.nfq else ""))

    def start(self, ready="www.lab.test"):
        self.start_nfq()
        self.start_resolver()
        self.wait_ready(ready)

    def stop(self):
        for p in (self.resolver, self.nfq):
            if p is not None:
                was_alive = p.alive()
                rc = p.stop(timeout=10)
                # a daemon told to stop exits 0, after its own cleanup
                if was_alive and rc != 0:
                    sanitizer_reports.append("%s did not exit cleanly on SIGTERM (status %s):\n%s" % (
                        p.name, rc, p.tail(20)))
                scan_sanitizer_file(p.name, p.logpath)

    def close(self):
        self.stop()
        if self.set_up and netns_exists(SBX):
            self.teardown()

    # -- log

    def mark(self):
        try:
            return os.path.getsize(self.logfile)
        except OSError:
            return 0

    def events(self, since=0, event=None, **match):
        """Parsed log lines after byte offset since, filtered by event and key=value."""
        try:
            with open(self.logfile, "r", errors="replace") as f:
                f.seek(since)
                lines = f.read().splitlines()
        except OSError:
            return []
        res = []
        for ln in lines:
            d = parse_logfmt(ln)
            if event and d.get("event") != event:
                continue
            if all(d.get(k) == str(v) for k, v in match.items()):
                d["_line"] = ln
                res.append(d)
        return res

    def wait_event(self, since=0, event=None, timeout=3, count=1, **match):
        r = wait_until(lambda: len(self.events(since, event, **match)) >= count and self.events(since, event, **match),
                       timeout, 0.05)
        return r or []

    def log_tail(self, n=25):
        return file_tail(self.logfile, n)

    def diag(self):
        s = "--- %s\n%s" % (self.conf, self.conf_text)
        s += "--- namegate.log (tail)\n%s" % self.log_tail()
        for p in (self.nfq, self.resolver):
            if p is not None:
                s += "--- %s stderr (tail, %s)\n%s" % (
                    p.name, "running" if p.alive() else "exited %s" % p.p.returncode, p.tail(12))
        return s
