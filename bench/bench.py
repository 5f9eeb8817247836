#!/usr/bin/env python3
"""namegate benchmark: namegate against dnsmasq --ipset and the no-firewall
baseline, side by side in one run (python3 stdlib; run as root via bench/run).

Three network namespaces, joined to the "internet" by veth pairs:

  ngbench-net  198.18.0.1 / 198.18.1.1 (veth ends)
      lo: 198.51.100.53 unbound (recursive, stub to nsd, cache pre-warmed)
          198.51.100.54 nsd, authoritative for bench.test (one A per name)
      local routes for 192.0.2.0/24 and 203.0.113.0/24; "ngbench serve"
      accepts on tcp/443 and tcp/80; a counting rule sees every SYN to the
      flood's port 9 that got out of a sandbox (must stay 0)
  ngbench-ng   198.18.0.2: namegate-nfq + namegate-resolver (127.0.0.1:53)
  ngbench-dm   198.18.1.2: dnsmasq --ipset (127.0.0.1:53) with an
               equivalent iptables allowlist

Names q<i>.bench.test have A 198.18.16.0 + i (unique within every list),
c<k>.bench.test have A 192.0.2.<k> (the connection tests' servers).

Prints a table; --json/--table/--plot write it; with --smoke everything is
small and short and each part prints PASS bench-<part> or FAIL bench-<part>.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

NET, NG, DM = "ngbench-net", "ngbench-ng", "ngbench-dm"
UPSTREAM = "198.51.100.53"
AUTH = "198.51.100.54"
ZONE = "bench.test"
ADDR_BASE = (198 << 24) | (18 << 16) | (16 << 8)
ADDR_SPAN = 126976  # 198.18.16.0 .. 198.19.255.255
CONN_N = 50
FLOOD_DST = ["203.0.113.%d" % i for i in range(200, 250)]
FLOOD_PORT = 9
DM_SET4 = "ngbdm4"
DM_SET6 = "ngbdm6"
HERE = os.path.dirname(os.path.abspath(__file__))

# The namespace helpers are the lab's (tests/lab/lab.py).
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lab"))
from lab import delete_netns as delete_ns, netns_pids, wait_until  # noqa: E402


class Fail(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def run(cmd, ns=None, check=True, timeout=120, input=None):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    try:
        p = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as e:
        raise Fail("timed out after %ss: %s" % (timeout, " ".join(full))) from e
    if check and p.returncode != 0:
        raise Fail("failed (%d): %s\n%s%s" % (p.returncode, " ".join(full), p.stdout[-2000:], p.stderr[-2000:]))
    return p


def sh(lines, ns=None):
    for ln in lines:
        run(ln.split(), ns=ns)




def addr(i):
    return socket.inet_ntoa(struct.pack("!I", ADDR_BASE + i % ADDR_SPAN))


class Proc:
    def __init__(self, name, cmd, logpath, ns=None):
        self.name = name
        self.logpath = logpath
        self.f = open(logpath, "ab")
        full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
        self.p = subprocess.Popen(full, stdout=self.f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            try:
                os.kill(self.p.pid, signal.SIGTERM)
                self.p.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.kill(self.p.pid, signal.SIGKILL)
                    self.p.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        self.f.close()

    def tail(self, n=20):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return str(e)


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            f = f.read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_kib(pid, key="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None






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
    do-ip6: no
remote-control:
    control-enable: no
zone:
    name: "{zone}"
    zonefile: "{zone}.zone"
"""

UNBOUND_CONF = """server:
    interface: {up}
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    logfile: "{d}/unbound.log"
    use-syslog: no
    verbosity: 0
    num-threads: 1
    do-ip4: yes
    do-ip6: no
    so-rcvbuf: 4m
    so-sndbuf: 4m
    num-queries-per-thread: 4096
    outgoing-range: 8192
    msg-cache-size: 256m
    rrset-cache-size: 512m
    access-control: 198.18.0.0/15 allow
    access-control: 127.0.0.0/8 allow
    access-control: 198.51.100.0/24 allow
    do-not-query-localhost: no
    domain-insecure: "test"
    module-config: "iterator"
    local-zone: "test." nodefault
    local-zone: "{zone}." transparent
    local-zone: "." refuse
    root-hints: ""
remote-control:
    control-enable: no
stub-zone:
    name: "{zone}"
    stub-addr: {auth}
"""

NG_INI = """[resolver]
listen = 127.0.0.1:53
upstream = {up}
user = namegate

[gate]
socket = {d}/run/gate.sock
# One wildcard line answers all the bench's names (100,000 addresses x 2
# ports), as dnsmasq's one --ipset line does: let it hold them all, or the
# line's own bound (default 8,192 entries) evicts and the cache's ACKs go.
max_per_line = 1048576

[log]
file = {d}/namegate.log

[allow]
domain = .{zone}
"""

DM_RULES = """*filter
:OUTPUT ACCEPT [0:0]
-A OUTPUT -o lo -j ACCEPT
-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A OUTPUT -p udp -d {up} --dport 53 -j ACCEPT
-A OUTPUT -p tcp -d {up} --dport 53 -j ACCEPT
-A OUTPUT -m set --match-set {set4} dst -j ACCEPT
-A OUTPUT -j REJECT
COMMIT
"""

# The poller of "setup to first answer": one query every 2 ms until an
# answer with an address comes, then prints the monotonic time it came.
POLLER = r"""
import socket, struct, sys, time
name = sys.argv[1]
q = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.002)
end = time.monotonic() + float(sys.argv[2])
qid = 0
print("ready", flush=True)
while time.monotonic() < end:
    qid = (qid + 1) & 0xffff
    try:
        s.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + b"\0\1\0\1", ("127.0.0.1", 53))
        while True:
            m = s.recv(512)
            if len(m) >= 12 and struct.unpack("!H", m[:2])[0] == qid:
                break
    except OSError:
        continue
    if m[3] & 0xf == 0 and struct.unpack("!H", m[6:8])[0] > 0:
        print("%.6f" % time.monotonic(), flush=True)
        sys.exit(0)
print("none", flush=True)
"""


class Bench:
    def __init__(self, args):
        self.a = args
        self.smoke = args.smoke
        self.build = os.path.abspath(args.build)
        self.nfq_bin = os.path.join(self.build, "nfq", "namegate-nfq")
        self.res_bin = os.path.join(self.build, "resolver", "namegate-resolver")
        self.tool = args.tool
        self.procs = []
        self.dir = None
        self.r = {"smoke": self.smoke}
        self.checks = []  # (status, part, detail)
        self.n_rounds = 1 if args.smoke else 5
        if self.smoke:
            self.n_miss, self.n_hit, self.n_plot = 2000, 1000, 400
            self.hit_secs, self.conn_secs, self.flood_secs, self.plot_secs = 1.5, 1.5, 2.0, 1.0
            self.plot_clients = [1, 16]
        else:
            # the hit part's working set: a big sandbox's 25,000 names
            self.n_miss, self.n_hit, self.n_plot = 100000, 25000, 20000
            self.hit_secs, self.conn_secs, self.flood_secs, self.plot_secs = 10, 5, 8, 3
            self.plot_clients = [1, 4, 16, 64]
        self.total_names = self.n_miss + self.n_plot * len(self.plot_clients)

    def check(self, ok, part, detail=""):
        self.checks.append(("PASS" if ok else "FAIL", part, detail))
        log("%s bench-%s%s" % ("PASS" if ok else "FAIL", part, " (%s)" % detail if detail else ""))

    # ------------------------------------------------------------ lab
    def cleanup(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []
        for ns in (NG, DM, NET):
            delete_ns(ns)

    def start(self):
        self.cleanup()
        self.dir = tempfile.mkdtemp(prefix="ngbench-")
        os.chmod(self.dir, 0o755)
        run(["ip", "netns", "add", NET])
        sh(["ip link set lo up",
            "ip addr add %s/32 dev lo" % UPSTREAM,
            "ip addr add %s/32 dev lo" % AUTH,
            "ip route add local 192.0.2.0/24 dev lo table main",
            "ip route add local 203.0.113.0/24 dev lo table main",
            "sysctl -qw net.core.somaxconn=65535",
            "sysctl -qw net.ipv4.tcp_max_syn_backlog=65535",
            # counts flood SYNs that got past a sandbox's firewall
            "iptables -A INPUT -p tcp --dport %d -j DROP" % FLOOD_PORT], ns=NET)
        for ns, i in ((NG, 0), (DM, 1)):
            run(["ip", "netns", "add", ns])
            vs, vn = "ngbv-%s" % ns[-2:], "ngbv-n%s" % ns[-2:]
            run(["ip", "link", "add", vs, "netns", ns, "type", "veth", "peer", "name", vn, "netns", NET])
            sh(["ip link set lo up",
                "ip addr add 198.18.%d.2/24 dev %s" % (i, vs),
                "ip link set %s up" % vs,
                "ip route add default via 198.18.%d.1" % i], ns=ns)
            run(["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"], ns=ns)
            sh(["ip addr add 198.18.%d.1/24 dev %s" % (i, vn), "ip link set %s up" % vn], ns=NET)
        self._servers()

    def _zone(self, path):
        with open(path, "w") as f:
            f.write("$ORIGIN %s.\n$TTL 3600\n" % ZONE)
            f.write("@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 3600\n" % (ZONE, ZONE))
            f.write("@ NS ns\nns A %s\n" % AUTH)
            for k in range(1, CONN_N + 1):
                f.write("c%d A 192.0.2.%d\n" % (k, k))
            for i in range(self.total_names + 16):
                f.write("q%d A %s\n" % (i, addr(i)))

    def _servers(self):
        d = os.path.join(self.dir, "net")
        os.makedirs(d)
        self._zone(os.path.join(d, ZONE + ".zone"))
        with open(os.path.join(d, "nsd.conf"), "w") as f:
            f.write(NSD_CONF.format(d=d, auth=AUTH, zone=ZONE))
        with open(os.path.join(d, "unbound.conf"), "w") as f:
            f.write(UNBOUND_CONF.format(d=d, up=UPSTREAM, auth=AUTH, zone=ZONE))
        self.nsd = self.spawn("nsd", ["nsd", "-d", "-c", os.path.join(d, "nsd.conf")], NET)
        self.unbound = self.spawn("unbound", ["unbound", "-d", "-c", os.path.join(d, "unbound.conf")], NET)
        self.server = self.spawn("serve", [self.tool, "serve", "443", "80"], NET)

        def ready():
            for p in (self.nsd, self.unbound, self.server):
                if not p.alive():
                    raise Fail("%s exited:\n%s" % (p.name, p.tail()))
            q = run(["dig", "+time=1", "+tries=1", "+short", "@" + UPSTREAM, "q0." + ZONE], ns=NET, check=False)
            return addr(0) in q.stdout and "ready" in self.server.tail()
        if not wait_until(ready, 60, 0.2):
            raise Fail("lab servers not ready:\n%s\n%s" % (self.nsd.tail(), self.unbound.tail()))

    def spawn(self, name, cmd, ns):
        p = Proc(name, cmd, os.path.join(self.dir, name + ".out"), ns=ns)
        self.procs.append(p)
        return p

    def names_file(self, tag, first, n, prefix="q"):
        path = os.path.join(self.dir, "names-%s.txt" % tag)
        with open(path, "w") as f:
            for i in range(first, first + n):
                f.write("%s%d.%s A\n" % (prefix, i, ZONE))
        return path

    # ------------------------------------------------------------ dnsperf
    def dnsperf(self, ns, datafile, clients, outstanding, runs=None, secs=None, server="127.0.0.1",
                verbose=True):
        cmd = ["dnsperf", "-s", server, "-d", datafile, "-c", str(clients), "-q", str(outstanding),
               "-t", "2", "-b", "4096"]
        if runs:
            cmd += ["-n", str(runs)]
        if secs:
            cmd += ["-l", str(secs)]
        if verbose:
            cmd.append("-v")
        p = run(cmd, ns=ns, timeout=600)
        out = p.stdout
        res = {"clients": clients, "outstanding": outstanding}

        def grab(pat, cast=float):
            m = re.search(pat, out)
            return cast(m.group(1)) if m else None
        res["sent"] = grab(r"Queries sent:\s+(\d+)", int)
        res["completed"] = grab(r"Queries completed:\s+(\d+)", int)
        res["lost"] = grab(r"Queries lost:\s+(\d+)", int)
        res["qps"] = grab(r"Queries per second:\s+([\d.]+)")
        avg = grab(r"Average Latency \(s\):\s+([\d.]+)")
        res["avg_ms"] = avg * 1000 if avg is not None else None
        rc = {}
        m = re.search(r"Response codes:\s+(.*)", out)
        if m:
            for code, cnt in re.findall(r"(\w+) (\d+) \(", m.group(1)):
                rc[code] = int(cnt)
        res["rcodes"] = rc
        lat, answered = [], []
        for ln in out.splitlines():
            if ln.startswith("> "):
                f = ln.split()
                if len(f) >= 5:
                    lat.append(float(f[-1]))
                    if f[1] == "NOERROR":
                        answered.append(f[2])
        lat.sort()
        res["p50_ms"] = lat[len(lat) // 2] * 1000 if lat else None
        res["p99_ms"] = lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1000 if lat else None
        res["answered_names"] = answered
        res["latencies"] = lat
        if res["qps"] is None:
            raise Fail("dnsperf printed no figures:\n%s%s" % (out[-1500:], p.stderr[-500:]))
        return res

    def prewarm(self):
        path = self.names_file("all", 0, self.total_names + 16)
        with open(path, "a") as f:
            for k in range(1, CONN_N + 1):
                f.write("c%d.%s A\n" % (k, ZONE))
        for _ in range(2):
            r = self.dnsperf(NET, path, 8, 500, runs=1, server=UPSTREAM, verbose=False)
            r.pop("latencies")
        self.r["upstream_warm"] = r
        if r["rcodes"].get("NOERROR", 0) != r["sent"]:
            raise Fail("pre-warming unbound: %r" % {k: r[k] for k in ("sent", "completed", "rcodes")})
        # the upstream's own ceiling, from a sandbox, before any firewall
        path = self.names_file("hit-up", self.n_miss - self.n_hit, self.n_hit)
        r = self.dnsperf(NG, path, 16, 128, secs=self.hit_secs / 2, server=UPSTREAM)
        r.pop("answered_names")
        r.pop("latencies")
        self.r["upstream"] = r
        log("upstream (unbound, cached) alone: %.0f q/s avg %.3f ms p99 %.3f ms" % (r["qps"], r["avg_ms"], r["p99_ms"]))

    # ------------------------------------------------------------ systems
    def ng_conf(self):
        d = os.path.join(self.dir, "ng")
        os.makedirs(os.path.join(d, "run"), exist_ok=True)
        os.chmod(d, 0o755)
        path = os.path.join(d, "sandbox.ini")
        with open(path, "w") as f:
            f.write(NG_INI.format(up=UPSTREAM, d=d, zone=ZONE))
        os.chmod(path, 0o644)
        self.ng_dir = d
        self.ng_ini = path
        # namegate's cache size as it runs (its default): dnsmasq's hit
        # runs get a cache of the same size
        out = run([self.res_bin, "-c", path, "--check-config"]).stdout
        m = re.search(r"^cache_size = (\d+)", out, re.M)
        # a build from before the key (for comparisons) had 10,000
        self.cache_size = int(m.group(1)) if m else 10000
        self.r["cache_size"] = self.cache_size
        if self.cache_size < self.n_hit:
            log("warning: namegate's cache (%d) is smaller than the hit part's %d names" % (
                self.cache_size, self.n_hit))

    def poller(self, ns, name, secs=20):
        p = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", POLLER, name, str(secs)],
                             stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != "ready":
            raise Fail("poller did not start")
        return p

    def poller_result(self, p, t0):
        out = p.stdout.readline().strip()
        p.wait(30)
        try:
            return (float(out) - t0) * 1000
        except ValueError:
            return None

    def start_namegate(self):
        """--setup, both daemons; the time to the first enforced answer."""
        self.ng_conf()
        poll = self.poller(NG, "c1." + ZONE)
        t0 = time.monotonic()
        run([self.nfq_bin, "-c", self.ng_ini, "--setup"], ns=NG)
        t_setup = time.monotonic()
        self.nfq = self.spawn("namegate-nfq", [self.nfq_bin, "-c", self.ng_ini], NG)
        sock = os.path.join(self.ng_dir, "run", "gate.sock")
        wait_until(lambda: os.path.exists(sock) or not self.nfq.alive(), 10, 0.001)
        self.resolver = self.spawn("namegate-resolver", [self.res_bin, "-c", self.ng_ini], NG)
        first = self.poller_result(poll, t0)
        if first is None:
            raise Fail("namegate gave no answer:\n%s\n%s" % (self.nfq.tail(), self.resolver.tail()))
        self.r["setup_ms"] = {"namegate": first, "namegate_setup_only": (t_setup - t0) * 1000}

    def dm_start(self, cache):
        args = ["dnsmasq", "-k", "--no-resolv", "--no-hosts", "--no-poll", "--port=53",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--server=" + UPSTREAM,
                "--ipset=/%s/%s,%s" % (ZONE, DM_SET4, DM_SET6), "--cache-size=%d" % cache,
                "--dns-forward-max=4096", "-u", "nobody", "--pid-file=" + os.path.join(self.dir, "dm.pid")]
        return self.spawn("dnsmasq-c%d" % cache, args, DM)

    def start_dnsmasq(self):
        """The same steps for dnsmasq: sets, an equivalent allowlist, the daemon."""
        poll = self.poller(DM, "c1." + ZONE)
        t0 = time.monotonic()
        run(["ipset", "create", DM_SET4, "hash:ip", "family", "inet", "maxelem", "1048576"], ns=DM)
        run(["ipset", "create", DM_SET6, "hash:ip", "family", "inet6", "maxelem", "1048576"], ns=DM)
        run(["iptables-restore", "--noflush"], ns=DM, input=DM_RULES.format(up=UPSTREAM, set4=DM_SET4))
        self.dm = self.dm_start(0)
        first = self.poller_result(poll, t0)
        if first is None:
            raise Fail("dnsmasq gave no answer:\n%s" % self.dm.tail())
        self.r["setup_ms"]["dnsmasq"] = first

    def restart_dnsmasq(self, cache):
        self.dm.stop()
        self.procs.remove(self.dm)
        self.dm = self.dm_start(cache)
        if not wait_until(lambda: "NOERROR" in run(["dig", "+time=1", "+tries=1", "@127.0.0.1", "c1." + ZONE],
                                                     ns=DM, check=False).stdout, 10, 0.05):
            raise Fail("dnsmasq did not come back:\n%s" % self.dm.tail())

    # ------------------------------------------------------------ checks
    def set_addrs(self, ns, setname):
        p = run(["ipset", "save", setname], ns=ns, timeout=120)
        res = {}
        for ln in p.stdout.splitlines():
            f = ln.split()
            if len(f) >= 3 and f[0] == "add":
                ip = f[2].split(",")[0]
                m = re.search(r"timeout (\d+)", ln)
                t = int(m.group(1)) if m else None
                res[ip] = max(res.get(ip, 0) or 0, t or 0) if t is not None else None
        return res

    def verify_set(self, ns, setname, res, first, n):
        want = {addr(i) for i in range(first, first + n)}
        names = set(res["answered_names"])
        members = self.set_addrs(ns, setname)
        answered = {addr(int(x.split(".")[0][1:])) for x in names if x.startswith("q")}
        missing = [a for a in answered if a not in members]
        return {"answered": len(answered), "expected": len(want), "in_set": len(answered) - len(missing),
                "missing": len(missing), "members": members}

    # ------------------------------------------------------------ parts
    def rounds(self, runs):
        """runs(round, sysname, ns) for both systems, ROUNDS times, the
        order alternating, so that drift in the machine's load (the
        upstream's own rate moves by a third between runs here) falls on
        both alike. Returns per system: the median round's q/s, the
        average latency over all queries, p99 over all queries, and the
        rounds' q/s."""
        per = {"namegate": [], "dnsmasq": []}
        systems = [("namegate", NG), ("dnsmasq", DM)]
        for rnd in range(self.n_rounds):
            for sysname, ns in (systems if rnd % 2 == 0 else systems[::-1]):
                per[sysname].append(runs(rnd, sysname, ns))
        out = {}
        for sysname, rs in per.items():
            lat = sorted(x for r in rs for x in r.pop("latencies"))
            qps = sorted(r["qps"] for r in rs)
            rcodes = {}
            for r in rs:
                for k, v in r["rcodes"].items():
                    rcodes[k] = rcodes.get(k, 0) + v
            out[sysname] = {
                "qps": qps[len(qps) // 2], "rounds_qps": [r["qps"] for r in rs],
                "avg_ms": 1000 * sum(lat) / len(lat) if lat else None,
                "p50_ms": lat[len(lat) // 2] * 1000 if lat else None,
                "p99_ms": lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1000 if lat else None,
                "sent": sum(r["sent"] or 0 for r in rs), "completed": sum(r["completed"] or 0 for r in rs),
                "rcodes": rcodes, "answered_names": [n for r in rs for n in r["answered_names"]],
                "clients": rs[0]["clients"], "outstanding": rs[0]["outstanding"]}
        return out

    def part_miss(self):
        chunk = self.n_miss // self.n_rounds
        paths = [self.names_file("miss%d" % k, k * chunk, chunk) for k in range(self.n_rounds)]
        # CPU per miss of each daemon, over its own rounds only: less
        # moved by the machine's load than queries/s
        pids = {"resolver": self.resolver.pid, "gate": self.nfq.pid, "dnsmasq": self.dm.pid}
        cpu = {k: 0.0 for k in pids}

        def one(rnd, sysname, ns):
            mine = ("resolver", "gate") if sysname == "namegate" else ("dnsmasq",)
            c0 = {k: cpu_s(pids[k]) for k in mine}
            res = self.dnsperf(ns, paths[rnd], 16, 128, runs=1)
            for k in mine:
                cpu[k] += cpu_s(pids[k]) - c0[k]
            return res
        out = self.rounds(one)
        n = chunk * self.n_rounds
        self.r["miss_cpu_us"] = {k: 1e6 * v / n for k, v in cpu.items()}
        log("miss CPU per query: resolver %.1f µs, gate %.1f µs, dnsmasq %.1f µs" % (
            self.r["miss_cpu_us"]["resolver"], self.r["miss_cpu_us"]["gate"], self.r["miss_cpu_us"]["dnsmasq"]))
        for sysname, ns, setname in (("namegate", NG, "namegate4"), ("dnsmasq", DM, DM_SET4)):
            r = out[sysname]
            v = self.verify_set(ns, setname, r, 0, chunk * self.n_rounds)
            r.pop("answered_names")
            v.pop("members")
            r["set"] = v
            log("miss %-8s %8.0f q/s (rounds: %s) avg %.3f ms p99 %.3f ms, %d/%d answered, %d in the set" % (
                sysname, r["qps"], " ".join("%.0f" % q for q in r["rounds_qps"]), r["avg_ms"], r["p99_ms"],
                v["answered"], chunk * self.n_rounds, v["in_set"]))
        self.r["miss"] = out
        ok = all(out[s]["set"]["missing"] == 0 and out[s]["set"]["answered"] == chunk * self.n_rounds
                 for s in out)
        self.check(ok, "miss", "" if ok else json.dumps({s: out[s]["set"] for s in out}))

    def part_hit(self):
        first = self.n_miss - self.n_hit
        path = self.names_file("hit", first, self.n_hit)
        self.restart_dnsmasq(self.cache_size)
        for ns in (NG, DM):
            self.dnsperf(ns, path, 16, 128, runs=1, verbose=False)  # warm
        out = self.rounds(lambda rnd, sysname, ns: self.dnsperf(
            ns, path, 16, 128, secs=self.hit_secs / self.n_rounds))
        for sysname in out:
            r = out[sysname]
            r.pop("answered_names")
            log("hit  %-8s %8.0f q/s (rounds: %s) avg %.3f ms p99 %.3f ms" % (
                sysname, r["qps"], " ".join("%.0f" % q for q in r["rounds_qps"]), r["avg_ms"], r["p99_ms"]))
        # entries stay fresh: every hit-list address is in namegate's set
        # with at least min_ttl (60 s) of its timeout left
        members = self.set_addrs(NG, "namegate4")
        stale = [addr(i) for i in range(first, first + self.n_hit) if (members.get(addr(i)) or 0) < 60]
        out["namegate"]["stale_entries"] = len(stale)
        self.r["hit_names"] = self.n_hit
        self.r["hit"] = out
        cached = self.resolver_cached_share()
        out["namegate"]["cached_share"] = cached
        ok = len(stale) == 0 and all(out[s]["rcodes"].get("NOERROR", 0) == out[s]["completed"] for s in out)
        self.check(ok, "hit", "" if ok else "stale entries: %d, rcodes %r" % (
            len(stale), {s: out[s]["rcodes"] for s in out}))

    def resolver_cached_share(self):
        try:
            with open(os.path.join(self.ng_dir, "namegate.log"), errors="replace") as f:
                f.seek(max(0, os.path.getsize(f.name) - 200000))
                tail = f.read().splitlines()[-500:]
        except OSError:
            return None
        allow = [ln for ln in tail if "event=dns.allow" in ln]
        return round(sum(1 for ln in allow if "cached=1" in ln) / len(allow), 3) if allow else None

    def part_rss(self):
        ng = rss_kib(self.resolver.pid)
        out = {"namegate_resolver_kib": ng, "namegate_resolver_hwm_kib": rss_kib(self.resolver.pid, "VmHWM"),
               "namegate_nfq_kib": rss_kib(self.nfq.pid), "dnsmasq_kib": rss_kib(self.dm.pid),
               "names_answered": self.n_miss}
        self.r["rss"] = out
        log("rss  namegate-resolver %s KiB (peak %s), namegate-nfq %s KiB, dnsmasq %s KiB" % (
            ng, out["namegate_resolver_hwm_kib"], out["namegate_nfq_kib"], out["dnsmasq_kib"]))
        self.check(ng is not None, "rss")

    def conn(self, secs, conc=64, ns=NG):
        addrs = ["192.0.2.%d" % k for k in range(1, CONN_N + 1)]
        p = run([self.tool, "conn", str(secs), str(conc), "443"] + addrs, ns=ns, timeout=secs + 60)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def conntrack_drain(self, ns):
        """Waits until the connections of an earlier run left the conntrack
        table (closed ones linger 10 s), so each run starts from the same."""
        def count():
            p = run(["cat", "/proc/sys/net/netfilter/nf_conntrack_count"], ns=ns, check=False)
            try:
                return int(p.stdout.strip())
            except ValueError:
                return 0
        wait_until(lambda: count() < 1000, 2 if self.smoke else 20, 0.25)

    def conn_log(self, what, r):
        log("conn %-26s %8.0f conn/s avg %.3f ms p99 %.3f ms, %d failed" % (
            what, r["cps"], r["avg_ms"], r["p99_ms"], r["fail"]))

    def part_conn_nofw(self):
        """No rules at all, then only connection tracking (one ESTABLISHED
        rule): the floor any stateful firewall starts from."""
        r = self.conn(self.conn_secs)
        self.r["conn"] = {"nofw": r}
        self.conn_log("no firewall", r)
        rule = ["OUTPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"]
        run(["iptables", "-A"] + rule, ns=NG)
        r = self.conn(self.conn_secs)
        run(["iptables", "-D"] + rule, ns=NG)
        self.r["conn"]["conntrack"] = r
        self.conn_log("conntrack only", r)
        self.conntrack_drain(NG)

    def resolve_conn_names(self, ns, who):
        path = self.names_file("conn", 1, CONN_N, prefix="c")
        r = self.dnsperf(ns, path, 1, 10, runs=1)
        if len(set(r["answered_names"])) != CONN_N:
            raise Fail("connection-test names did not resolve through %s: %r" % (who, r["rcodes"]))

    def part_conn_ng(self):
        """Right after the start, like the baselines: the later parts fill
        the conntrack table with DNS flows."""
        self.resolve_conn_names(NG, "namegate")
        r = self.conn(self.conn_secs)
        self.r["conn"]["namegate"] = r
        self.conn_log("namegate", r)
        self.check(r["ok"] > 0 and r["fail"] == 0, "conn", "" if r["fail"] == 0 else json.dumps(r["errors"]))
        self.resolve_conn_names(DM, "dnsmasq")
        r = self.conn(self.conn_secs, ns=DM)
        self.r["conn"]["dnsmasq"] = r
        self.conn_log("dnsmasq + its allowlist", r)
        # the conntrack hash table is shared by all namespaces
        self.conntrack_drain(NG)
        self.conntrack_drain(DM)

    def queue_stats(self):
        p = run(["cat", "/proc/net/netfilter/nfnetlink_queue"], ns=NG, check=False)
        for ln in p.stdout.splitlines():
            f = ln.split()
            if len(f) >= 8 and f[0] == "0":
                return {"total": int(f[2]), "dropped": int(f[5]), "user_dropped": int(f[6]), "seq": int(f[7])}
        return None

    def leaked(self):
        p = run(["iptables", "-nvxL", "INPUT"], ns=NET)
        for ln in p.stdout.splitlines():
            if "dpt:%d" % FLOOD_PORT in ln:
                return int(ln.split()[0])
        return None

    def part_flood(self):
        procs = 2 if self.smoke else 4
        leak0 = self.leaked()
        q0 = self.queue_stats()
        samples = []
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                s = self.queue_stats()
                if s:
                    samples.append(s["total"])
                time.sleep(0.1)
        th = threading.Thread(target=sample)
        th.start()
        fl = subprocess.Popen(["ip", "netns", "exec", NG, self.tool, "flood", str(self.flood_secs), str(procs), "0",
                               str(FLOOD_PORT)] + FLOOD_DST, stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        t0 = time.monotonic()
        c = self.conn(self.flood_secs - 1.5, conc=16)
        fout = fl.communicate(timeout=60)[0]
        t1 = time.monotonic()
        stop.set()
        th.join()
        q1 = self.queue_stats()
        f = json.loads(fout.strip().splitlines()[-1])
        time.sleep(0.5)
        leak = (self.leaked() or 0) - (leak0 or 0)
        queued = q1["seq"] - q0["seq"]
        dropped = (q1["dropped"] - q0["dropped"]) + (q1["user_dropped"] - q0["user_dropped"])
        verdicts = queued - dropped - q1["total"]
        secs = f["secs"]
        out = {"flood": f, "queued": queued, "queue_dropped": dropped, "verdicts": verdicts,
               "verdicts_per_s": verdicts / secs, "queue_max": max(samples) if samples else None,
               "queue_end": q1["total"], "leaked": leak, "conn": c,
               "conn_success": c["ok"] / c["attempts"] if c["attempts"] else 0.0,
               "nfq_alive": self.nfq.alive()}
        self.r["flood"] = out
        log("flood %.0f SYN/s sent (%d procs): %.0f verdicts/s, queue max %s, %d dropped by the queue, %d leaked; "
            "allowed: %.2f%% of %d ok, avg %.3f ms p99 %.3f ms" % (
                f["pps"], procs, out["verdicts_per_s"], out["queue_max"], dropped, leak,
                100 * out["conn_success"], c["attempts"], c["avg_ms"], c["p99_ms"]))
        del t0, t1
        ok = leak == 0 and out["nfq_alive"] and c["ok"] > 0
        self.check(ok, "flood", "" if ok else "leaked %d, gate alive %s, allowed ok %d" % (leak, out["nfq_alive"], c["ok"]))

    def closed_loop(self, ns, path, clients, secs):
        p = run([self.tool, "dns", str(secs), str(clients), "127.0.0.1", path], ns=ns, timeout=secs + 60)
        return json.loads(p.stdout.strip().splitlines()[-1])

    def part_plot(self):
        """Queries/s and p99 against concurrent clients (closed loop: each
        client one UDP socket with one query outstanding), both paths."""
        rows = {c: {"clients": c} for c in self.plot_clients}
        base = self.n_miss
        self.restart_dnsmasq(0)
        for k, c in enumerate(self.plot_clients):
            path = self.names_file("plot%d" % c, base + k * self.n_plot, self.n_plot)
            for sysname, ns in (("namegate", NG), ("dnsmasq", DM)):
                r = self.closed_loop(ns, path, c, 60)
                rows[c][sysname + "_miss"] = r
        hitpath = os.path.join(self.dir, "names-hit5.txt")
        with open(os.path.join(self.dir, "names-hit.txt")) as f, open(hitpath, "w") as g:
            g.write(f.read() * 5)
        self.restart_dnsmasq(self.cache_size)
        for sysname, ns in (("namegate", NG), ("dnsmasq", DM)):
            self.closed_loop(ns, os.path.join(self.dir, "names-hit.txt"), 16, 30)  # warm
            for c in self.plot_clients:
                rows[c][sysname + "_hit"] = self.closed_loop(ns, hitpath, c, self.plot_secs)
        out = [rows[c] for c in self.plot_clients]
        for row in out:
            log("plot c=%-3d " % row["clients"] + "  ".join(
                "%s %.0f q/s p99 %.3f ms" % (k2, v["qps"], v["p99_ms"]) for k2, v in row.items() if k2 != "clients"))
        self.r["plot"] = out
        self.check(all(r[k]["qps"] > 0 and r[k]["lost"] == 0 for r in out for k in r if k != "clients"), "plot")

    # ------------------------------------------------------------ main
    def go(self):
        try:
            t = time.monotonic()
            self.start()
            self.r["load_before"] = os.getloadavg()
            self.prewarm()
            self.check(True, "lab", "%d names, %.0f s" % (self.total_names, time.monotonic() - t))
            self.part_conn_nofw()
            self.start_namegate()
            self.start_dnsmasq()
            log("setup to first answer: namegate %.0f ms (--setup alone %.0f ms), dnsmasq %.0f ms" % (
                self.r["setup_ms"]["namegate"], self.r["setup_ms"]["namegate_setup_only"], self.r["setup_ms"]["dnsmasq"]))
            self.check(True, "setup")
            self.part_conn_ng()
            self.part_miss()
            self.part_hit()
            self.part_rss()
            self.part_flood()
            self.part_plot()
            self.r["load_after"] = os.getloadavg()
            alive = self.nfq.alive() and self.resolver.alive()
            self.check(alive, "daemons", "" if alive else "%s\n%s" % (self.nfq.tail(), self.resolver.tail()))
        except Fail as e:
            self.check(False, "run", str(e).splitlines()[0][:300])
            log(str(e))
        finally:
            self.cleanup()
            if self.dir and not self.a.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
        return all(s == "PASS" for s, _, _ in self.checks)


# ---------------------------------------------------------------- report

def ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "–"


def table(r):
    rows = []

    def add(what, ng, dm, nofw, rat_dm, rat_nofw, unit):
        rows.append((what, ng, dm, nofw, rat_dm, rat_nofw, unit))
    m, h = r.get("miss", {}), r.get("hit", {})
    if m:
        n, d = m["namegate"], m["dnsmasq"]
        add("cache miss: queries/s", "%.0f" % n["qps"], "%.0f" % d["qps"], "", ratio(n["qps"], d["qps"]), "", "q/s")
        add("cache miss: latency avg", "%.3f" % n["avg_ms"], "%.3f" % d["avg_ms"], "", ratio(n["avg_ms"], d["avg_ms"]), "", "ms")
        add("cache miss: latency p99", "%.3f" % n["p99_ms"], "%.3f" % d["p99_ms"], "", ratio(n["p99_ms"], d["p99_ms"]), "", "ms")
        c = r.get("miss_cpu_us")
        if c:
            add("cache miss: CPU per query (resolver + gate)", "%.1f + %.1f" % (c["resolver"], c["gate"]),
                "%.1f" % c["dnsmasq"], "", ratio(c["resolver"] + c["gate"], c["dnsmasq"]), "", "µs")
        add("cache miss: answers in the set", "%d/%d" % (n["set"]["in_set"], n["set"]["answered"]),
            "%d/%d" % (d["set"]["in_set"], d["set"]["answered"]), "", "", "", "")
    one = next((row for row in r.get("plot", []) if row["clients"] == 1), None)
    if one:
        n, d = one["namegate_miss"], one["dnsmasq_miss"]
        for k in ("avg", "p50", "p99"):
            add("cache miss, one client: latency %s" % k, "%.3f" % n[k + "_ms"], "%.3f" % d[k + "_ms"], "",
                ratio(n[k + "_ms"], d[k + "_ms"]), "", "ms")
    if h:
        n, d = h["namegate"], h["dnsmasq"]
        add("cache hit: queries/s, %d names, caches of %d" % (r.get("hit_names", 0), r.get("cache_size", 0)),
            "%.0f" % n["qps"], "%.0f" % d["qps"], "", ratio(n["qps"], d["qps"]), "", "q/s")
        add("cache hit: latency avg", "%.3f" % n["avg_ms"], "%.3f" % d["avg_ms"], "", ratio(n["avg_ms"], d["avg_ms"]), "", "ms")
        add("cache hit: latency p99", "%.3f" % n["p99_ms"], "%.3f" % d["p99_ms"], "", ratio(n["p99_ms"], d["p99_ms"]), "", "ms")
    if "rss" in r:
        s = r["rss"]
        add("resolver RSS, %d names answered" % s["names_answered"], "%.1f" % (s["namegate_resolver_kib"] / 1024),
            "%.1f" % (s["dnsmasq_kib"] / 1024), "", ratio(s["namegate_resolver_kib"], s["dnsmasq_kib"]), "", "MiB")
        add("gate RSS", "%.1f" % (s["namegate_nfq_kib"] / 1024), "", "", "", "", "MiB")
    c = r.get("conn", {})
    if "namegate" in c:
        n, z, d = c["namegate"], c["nofw"], c.get("dnsmasq")
        dc = ("%.0f" % d["cps"], ratio(n["cps"], d["cps"])) if d else ("", "")
        dl = ("%.3f" % d["p99_ms"], ratio(n["p99_ms"], d["p99_ms"])) if d else ("", "")
        add("new TCP connections/s, allowed", "%.0f" % n["cps"], dc[0], "%.0f" % z["cps"], dc[1],
            ratio(n["cps"], z["cps"]), "conn/s")
        add("connect latency p99", "%.3f" % n["p99_ms"], dl[0], "%.3f" % z["p99_ms"], dl[1],
            ratio(n["p99_ms"], z["p99_ms"]), "ms")
        t = c.get("conntrack")
        if t:
            add("new TCP connections/s, no firewall but conntrack on", "", "", "%.0f" % t["cps"], "",
                ratio(n["cps"], t["cps"]), "conn/s")
    f = r.get("flood")
    if f:
        add("denied SYN flood sent", "%.0f" % f["flood"]["pps"], "", "", "", "", "pkt/s")
        add("gate verdicts", "%.0f" % f["verdicts_per_s"], "", "", "", "", "/s")
        add("queue: max length / dropped / leaked", "%s / %d / %d" % (f["queue_max"], f["queue_dropped"], f["leaked"]),
            "", "", "", "", "pkts")
        add("allowed connections ok under flood", "%.2f" % (100 * f["conn_success"]), "", "", "", "", "%")
        add("their connect latency avg / p99", "%.3f / %.3f" % (f["conn"]["avg_ms"], f["conn"]["p99_ms"]), "", "", "", "", "ms")
    s = r.get("setup_ms")
    if s and "dnsmasq" in s:
        add("setup to first enforced answer", "%.0f" % s["namegate"], "%.0f" % s["dnsmasq"], "",
            ratio(s["namegate"], s["dnsmasq"]), "", "ms")
    hdr = ("figure", "namegate", "dnsmasq --ipset", "no firewall", "namegate/dnsmasq", "namegate/no-fw", "unit")
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    lines += targets(r)
    up = r.get("upstream")
    if up:
        lines.append("")
        lines.append("Upstream alone (unbound from its cache, 16 clients, 128 outstanding): %.0f q/s, "
                     "avg %.3f ms, p99 %.3f ms." % (up["qps"], up["avg_ms"], up["p99_ms"]))
    if "load_before" in r:
        lines.append("Load average before / after: %s / %s." % (
            " ".join("%.2f" % x for x in r["load_before"]), " ".join("%.2f" % x for x in r.get("load_after", ()))))
    return "\n".join(lines)


def targets(r):
    """The targets of issue 14, each with its figure from this run."""
    out = []

    def one(what, val, ok):
        out.append("| %s | %s | %s |" % (what, val, "met" if ok else "**not met**"))
    m, h, s = r.get("miss"), r.get("hit"), r.get("rss")
    if m:
        x = m["namegate"]["qps"] / m["dnsmasq"]["qps"]
        one("miss q/s ≥ 2× dnsmasq, addresses acked before the reply", "%.2f×" % x, x >= 2)
    if h:
        x = h["namegate"]["qps"] / h["dnsmasq"]["qps"]
        one("hit q/s ≥ 1.2× at %d names, caches of equal size (%d)" % (r.get("hit_names", 0), r.get("cache_size", 0)),
            "%.2f×" % x, x >= 1.2)
    p1 = next((row for row in r.get("plot", []) if row["clients"] == 1), None)
    if p1:
        x = p1["namegate_miss"]["avg_ms"] / p1["dnsmasq_miss"]["avg_ms"]
        one("one-client miss latency ≤ 1.2× dnsmasq's (avg; p99 %.2f×)" % (
            p1["namegate_miss"]["p99_ms"] / p1["dnsmasq_miss"]["p99_ms"]), "%.2f×" % x, x <= 1.2)
    if s and s.get("namegate_resolver_kib"):
        mib = s["namegate_resolver_kib"] / 1024
        one("resolver RSS ≤ 16 MiB at %d names" % s["names_answered"], "%.1f MiB" % mib, mib <= 16)
    if out:
        out = ["", "| target | this run | |", "| --- | --- | --- |"] + out
    return out


GNUPLOT = """set terminal pngcairo size 1100,420 font "sans,10"
set output "{png}"
set multiplot layout 1,2 title "namegate vs dnsmasq --ipset (same lab, same upstream)"
set logscale x 2
set xtics (1, 4, 16, 64)
set xrange [0.8:80]
set yrange [0:*]
set xlabel "concurrent clients (closed loop, 1 query outstanding each)"
set key bottom right
set grid
set title "queries per second"
plot "{dat}" u 1:2 w lp lw 2 t "namegate, cache miss", "" u 1:4 w lp lw 2 t "dnsmasq --ipset, cache off", \\
     "" u 1:6 w lp lw 2 dt 2 t "namegate, cache hit", "" u 1:8 w lp lw 2 dt 2 t "dnsmasq, cache hit"
set title "p99 latency (ms)"
set key top left
plot "{dat}" u 1:3 w lp lw 2 t "namegate, cache miss", "" u 1:5 w lp lw 2 t "dnsmasq --ipset, cache off", \\
     "" u 1:7 w lp lw 2 dt 2 t "namegate, cache hit", "" u 1:9 w lp lw 2 dt 2 t "dnsmasq, cache hit"
unset multiplot
"""


def plot(r, png):
    if not r.get("plot") or not shutil.which("gnuplot"):
        return False
    dat = png + ".dat"
    with open(dat, "w") as f:
        f.write("# clients ng_miss_qps ng_miss_p99 dm_miss_qps dm_miss_p99 ng_hit_qps ng_hit_p99 dm_hit_qps dm_hit_p99\n")
        for row in r["plot"]:
            f.write("%d %.0f %.3f %.0f %.3f %.0f %.3f %.0f %.3f\n" % (
                row["clients"], row["namegate_miss"]["qps"], row["namegate_miss"]["p99_ms"],
                row["dnsmasq_miss"]["qps"], row["dnsmasq_miss"]["p99_ms"],
                row["namegate_hit"]["qps"], row["namegate_hit"]["p99_ms"],
                row["dnsmasq_hit"]["qps"], row["dnsmasq_hit"]["p99_ms"]))
    p = subprocess.run(["gnuplot"], input=GNUPLOT.format(png=png, dat=dat), text=True, capture_output=True)
    if p.returncode != 0:
        log("gnuplot: %s" % p.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", help="directory for results.json, table.md and clients.png")
    a = ap.parse_args()
    b = Bench(a)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ok = b.go()
    except KeyboardInterrupt:
        b.cleanup()
        log("FAIL bench-run (interrupted)")
        return 130
    t = table(b.r)
    log("\n" + t + "\n")
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "results.json"), "w") as f:
            json.dump(b.r, f, indent=1, default=str)
        with open(os.path.join(a.out, "table.md"), "w") as f:
            f.write(t + "\n")
        if not a.smoke and plot(b.r, os.path.join(a.out, "clients.png")):
            log("plot: %s" % os.path.join(a.out, "clients.png"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
