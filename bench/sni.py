"""TLS connections with the SNI / Host binding on, off, and with no firewall,
in the lab's namespaces (tests/lab), as ratios in one run: connections/s
(connect, a real ClientHello, the server's first flight) and the added
first-flight latency (p50, p99), taking turns so drift falls on all alike.

  flock /run/nglab.lock python3 bench/sni.py [--build DIR] [--n N] [--rounds R] [--bulk BYTES] [--smoke]

bench/run runs it as its part "sni" (under the lab's lock). The figures are
printed, not asserted; the one check (PASS/FAIL bench-sni) is that all three
setups ran, every connection and bulk transfer of each got through, and with
the check on the other name on that address was reset.
--smoke: --n 30 --rounds 1 --bulk 2000000 (~20 s with the lab's start; tests/run runs it).
docs/benchmarks.md has the figures."""
import argparse
import json
import os
import signal
import statistics
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
import lab  # noqa: E402
import tests_lab  # noqa: E402,F401  (the T context)
import tests_sni  # noqa: E402

CLIENT = os.path.join(TOP, "bench", "sni_client.py")


def run_client(n):
    p = lab.run(["python3", CLIENT, tests_sni.V4, str(tests_sni.TLS_PORT), tests_sni.GOOD, str(n)], ns=lab.SBX,
                uid=lab.AGENT_UID, timeout=300)
    return json.loads(p.stdout.strip().splitlines()[-1])


def bulk(nbytes):
    r = tests_sni.sni("tls", tests_sni.V4, tests_sni.TLS_PORT, tests_sni.GOOD, bytes=nbytes, timeout=60)
    return {"mb_s": round(r.get("bytes", 0) / 1e6 / (max(r.get("xfer_ms", 0), 0.1) / 1000), 1),
            "bulk_outcome": r.get("outcome"), "bulk_bytes": r.get("bytes", 0)}


def verdict(res, n, nbytes):
    """Empty when every setup ran and all its connections and its bulk
    transfer got through; else what did not."""
    bad = []
    for k, v in res.items():
        if not v:
            bad.append("%s did not run" % k)
        for x in v:
            if x["ok"] != n or x["fails"]:
                bad.append("%s: %d/%d connected" % (k, x["ok"], n))
            if x["bulk_outcome"] != "connected" or x["bulk_bytes"] != nbytes:
                bad.append("%s: bulk %s, %d/%d bytes" % (k, x["bulk_outcome"], x["bulk_bytes"], nbytes))
            if k == "enforce" and x.get("evil") != "reset":
                bad.append("enforce: the other name was not reset (%s)" % x.get("evil"))
    return "; ".join(bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--n", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--bulk", type=int)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    for k, full, smoke in (("n", 300, 30), ("rounds", 3, 1), ("bulk", 200 * 1000 * 1000, 2 * 1000 * 1000)):
        if getattr(a, k) is None:
            setattr(a, k, smoke if a.smoke else full)
    print("sni: load before: %s on %d cores; %d connections x %d rounds, bulk %d bytes" % (
        " ".join("%.2f" % x for x in os.getloadavg()), os.cpu_count(), a.n, a.rounds, a.bulk), flush=True)
    L = lab.Lab(a.build)
    res = {"no-firewall": [], "off": [], "enforce": []}
    try:
        L.start()
        t = tests_lab.T(L, "bench-sni")
        tests_sni.server(t)
        for r in range(a.rounds):
            L.fresh_sbx()
            res["no-firewall"].append(run_client(a.n))
            res["no-firewall"][-1].update(bulk(a.bulk))
            for mode in ("off", "enforce") if r % 2 == 0 else ("enforce", "off"):
                t = tests_lab.T(L, "bench-sni-%s-%d" % (mode, r))
                try:
                    tests_sni.up(t, gate={"bind": mode})
                    res[mode].append(run_client(a.n))
                    res[mode][-1].update(bulk(a.bulk))
                    if mode == "enforce":
                        # the check is really on: the other name on that address is reset
                        e = tests_sni.sni("tls", tests_sni.V4, tests_sni.TLS_PORT, tests_sni.EVIL)
                        res[mode][-1]["evil"] = e.get("outcome")
                finally:
                    t.close()
    except (lab.Fail, OSError, ValueError, KeyError, IndexError) as e:
        L.stop()
        msg = str(e) or repr(e)
        print("FAIL bench-sni (%s)" % msg.splitlines()[0][:300])
        print(msg)
        return 1
    except KeyboardInterrupt:
        L.stop()
        print("FAIL bench-sni (interrupted)")
        return 130
    L.stop()
    print("sni: load after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    bad = verdict(res, a.n, a.bulk)
    if not bad:
        report(res)
    print("FAIL bench-sni (%s)" % bad if bad else "PASS bench-sni", flush=True)
    return 1 if bad else 0


def report(res):
    med = {k: {f: statistics.median(x[f] for x in v) for f in ("conn_s", "p50_us", "p99_us", "mb_s")}
           for k, v in res.items()}
    print(json.dumps({"median": med}, indent=1))
    on, off, nofw = med["enforce"], med["off"], med["no-firewall"]
    print("| figure | check on | check off | no firewall | on vs off | on vs no firewall | target |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("| TLS connections/s | %.0f | %.0f | %.0f | %.2f× | %.2f× | ≥ 0.9× of off |" % (
        on["conn_s"], off["conn_s"], nofw["conn_s"], on["conn_s"] / off["conn_s"], on["conn_s"] / nofw["conn_s"]))
    for q, target in (("p50", "≤ +100 µs"), ("p99", "")):
        k = q + "_us"
        print("| first flight %s (µs) | %.0f | %.0f | %.0f | %+.0f µs | %+.0f µs | %s |" % (
            q, on[k], off[k], nofw[k], on[k] - off[k], on[k] - nofw[k], target))
    print("| bulk on one connection (MB/s) | %.0f | %.0f | %.0f | %.3f× | %.3f× | within 2 %% of no firewall |" % (
        on["mb_s"], off["mb_s"], nofw["mb_s"], on["mb_s"] / off["mb_s"], on["mb_s"] / nofw["mb_s"]))


def on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
