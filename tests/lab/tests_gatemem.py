"""The gate's memory under a flood of fresh names through one wildcard line
with the default max_per_line: it stays well inside the pod's 64 MiB limit,
and an address a set still holds keeps its name (the deny log and the SNI /
Host binding need it) however many fresh addresses come after it."""
import os
import tempfile
import time

import lab
from lab import AGENT_UID, run
from tests_faults import fault_ng
from tests_lab import BASE_ALLOW, check, test, want_answer, want_connect, want_event, want_refused
from tests_ttl import vm_rss_kb

def status_kb(pid, keys=("VmRSS", "RssAnon", "RssFile", "VmHWM")):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k = ln.split(":")[0]
            if k in keys:
                out[k] = int(ln.split()[1])
    return " ".join("%s=%s" % (k, out.get(k)) for k in keys)


MEM_NAMES = 2000  # x 64 AAAA: 128,000 fresh addresses, past the address map's bound
GATE_RSS_MAX_KB = 32 * 1024


def under_asan(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


@test("76.bound.gate-memory-flood")
def t_gate_memory(t):
    """2,000 fresh names x 64 AAAA under one wildcard (128,000 addresses,
    each with its own name record): the gate's VmRSS stays at most 32 MiB,
    and www.lab.test, resolved before the flood and still in the set, is
    still known by name: a denial on another port says reason=port with its
    name."""
    # measurement knobs (defaults: the test as CI runs it)
    n_names = int(os.environ.get("NGLAB_GATEMEM_NAMES", MEM_NAMES))
    mpl = os.environ.get("NGLAB_GATEMEM_MAX_PER_LINE") or None
    ng, fd = fault_ng(t, allow=BASE_ALLOW + ["*.flood.lab.test"], gate={"max_per_line": int(mpl)} if mpl else {})
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)
    start_kb = status_kb(ng.nfq.pid)
    fd.set("synth 64")
    names = ["m%d.flood.lab.test" % i for i in range(1, n_names + 1)]
    got, secs, seen = 0, 0.0, []
    # VmRSS after about 10k, 50k and 100k addresses, then at the end
    cuts = sorted(set([c for c in (157, 782, 1563) if c < n_names] + [n_names]))
    done = 0
    for cut in cuts:
        fdsc, path = tempfile.mkstemp(prefix="nglab-gatemem.")
        try:
            with os.fdopen(fdsc, "w") as f:
                for n in names[done:cut]:
                    f.write("%s AAAA +time=3 +tries=1 +short @127.0.0.1\n" % n)
            os.chmod(path, 0o644)
            t0 = time.monotonic()
            p = run(["dig", "-f", path], ns=lab.SBX, uid=AGENT_UID, check=False, timeout=600)
            secs += time.monotonic() - t0
        finally:
            os.unlink(path)
        got += sum(1 for ln in p.stdout.splitlines() if ln.startswith("2001:db8:f0:"))
        done = cut
        seen.append("%d addresses: %s kB" % (done * 64, vm_rss_kb(ng.nfq.pid)))
    rss_kb = vm_rss_kb(ng.nfq.pid)
    # An ASan build's gate (tests/run's sanitizer section) keeps shadow
    # memory and a quarantine: the bound is for the real build's RSS.
    asan = under_asan(ng.nfq.pid)
    lab.log("    (gate at the end: %s kB)" % status_kb(ng.nfq.pid))
    lab.log("    (gate memory, max_per_line %s: %d names x 64 AAAA in %.1f s, %d addresses back; gate VmRSS "
            "at start %s kB, %s)" % (mpl or "default", n_names, secs, got, start_kb, ", ".join(seen)))
    check(got >= n_names * 64 * 0.95, "the flood's answers came back (%d addresses)" % got, p.stderr[-500:])
    check(mpl is not None or asan or (rss_kb is not None and rss_kb <= GATE_RSS_MAX_KB),
          "the gate's VmRSS stays at most %d kB" % GATE_RSS_MAX_KB, rss_kb)
    # the quiet line's address is still in the set, so it kept its name
    m = ng.mark()
    want_refused("192.0.2.10", 8080)
    want_event(ng, m, "flow.deny", proto="tcp", dst="192.0.2.10", dport=8080, reason="port", name="www.lab.test")
    want_connect("192.0.2.10", 443)
    r = want_answer(names[-1], "AAAA")
    want_connect(r.addrs()[0], 443)
