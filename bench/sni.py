"""TLS connections with the SNI / Host binding on, off, and with no firewall,
in the lab's namespaces (tests/lab), as ratios in one run: connections/s
(connect, a real ClientHello, the server's first flight) and the added
first-flight latency (p50, p99), taking turns so drift falls on all alike.

  flock /run/nglab.lock python3 bench/sni.py [--build DIR] [--n N] [--rounds R]

Printed, not asserted; docs/benchmarks.md has the figures."""
import argparse
import json
import os
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
    return {"mb_s": round(r.get("bytes", 0) / 1e6 / (r.get("xfer_ms", 1e9) / 1000), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bulk", type=int, default=200 * 1000 * 1000)
    a = ap.parse_args()
    L = lab.Lab(a.build)
    L.start()
    res = {"no-firewall": [], "off": [], "enforce": []}
    try:
        t = tests_lab.T(L, "bench-sni")
        tests_sni.server(t)
        for r in range(a.rounds):
            L.fresh_sbx()
            res["no-firewall"].append(run_client(a.n))
            res["no-firewall"][-1].update(bulk(a.bulk))
            for mode in ("off", "enforce") if r % 2 == 0 else ("enforce", "off"):
                t = tests_lab.T(L, "bench-sni-%s-%d" % (mode, r))
                tests_sni.up(t, gate={"bind": mode})
                res[mode].append(run_client(a.n))
                res[mode][-1].update(bulk(a.bulk))
                t.close()
    finally:
        L.stop()
    med = {k: {f: statistics.median(x[f] for x in v) for f in ("conn_s", "p50_us", "p99_us", "mb_s")}
           for k, v in res.items()}
    fails = {k: sum(x["fails"] for x in v) for k, v in res.items()}
    print(json.dumps({"median": med, "fails": fails}, indent=1))
    on, off, nofw = med["enforce"], med["off"], med["no-firewall"]
    print("| figure | check on | check off | no firewall | on/off | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("| TLS connections/s | %.0f | %.0f | %.0f | %.2f× | ≥ 0.9× |" % (
        on["conn_s"], off["conn_s"], nofw["conn_s"], on["conn_s"] / off["conn_s"]))
    print("| first flight p50 (µs) | %.0f | %.0f | %.0f | +%.0f µs | ≤ +100 µs |" % (
        on["p50_us"], off["p50_us"], nofw["p50_us"], on["p50_us"] - off["p50_us"]))
    print("| first flight p99 (µs) | %.0f | %.0f | %.0f | +%.0f µs |  |" % (
        on["p99_us"], off["p99_us"], nofw["p99_us"], on["p99_us"] - off["p99_us"]))
    print("| bulk on one connection (MB/s) | %.0f | %.0f | %.0f | %.3f× of no firewall | within 2 %% |" % (
        on["mb_s"], off["mb_s"], nofw["mb_s"], on["mb_s"] / nofw["mb_s"]))


if __name__ == "__main__":
    main()
