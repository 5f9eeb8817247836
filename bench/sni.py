"""TLS connections with the SNI / Host binding on, off, and with no firewall,
in the lab's namespaces (tests/lab), as ratios in one run.

  flock /run/nglab.lock python3 bench/sni.py --tool BUILD/bench/ngtls [--build DIR]
        [--rounds R] [--lat N] [--rate N] [--conc C] [--bulk BYTES] [--smoke] [--json FILE]

The load tools are C (bench/ngtls.c, OpenSSL's libssl): a TLS server in the
internet namespace (one process per core, pinned, ECDSA P-256, no session
tickets, so every connection is a full handshake) and, as the agent in the
sandbox, a client that opens connections (a real ClientHello with SNI, the
server's first flight, the handshake finished, a reset close) and reports
connections/s and the latency connect -> first server byte (p50/p90/p99),
and a bulk mode (one connection, BYTES, MB/s).

Three setups, no firewall (A), bind = off (B), bind = enforce (C), taken in
turns, ABC BCA CAB ..., each turn from a fresh sandbox (and a fresh
namegate): slow drift on a shared box falls on all three alike, and none
always follows the same other. Per turn: a warm-up, then --lat connections
one at a time (the latency), --rate connections --conc at a time
(connections/s), and --bulk bytes three times (the median MB/s). Reported:
per setup the median over the rounds and the spread (min..max); the ratios
on/off and on/no-firewall of the medians, and the same ratio taken within
each round (its median and spread), against the targets.

bench/run runs it as its part "sni" (under the lab's lock). The figures are
printed, not asserted; the one check (PASS/FAIL bench-sni) is that all three
setups ran, every connection and bulk transfer of each got through, and with
the check on the other name on that address was reset.
--smoke: 1 round, 30/60 connections, 10 MB (tests/run runs it).
docs/benchmarks.md has the figures and the method."""
import argparse
import json
import os
import signal
import statistics
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
import lab  # noqa: E402
import tests_lab  # noqa: E402
import tests_sni  # noqa: E402

PORT = 8444  # the bench's own TLS port (tests_sni's python server has 8443)
V4, GOOD, EVIL = tests_sni.V4, tests_sni.GOOD, tests_sni.EVIL
ALLOW = tests_lab.BASE_ALLOW + ["domain = %s tcp/%d" % (GOOD, PORT)]
SETUPS = ("no-firewall", "off", "enforce")
TARGETS = {"conn_s": "≥ 0.9× of off", "p50_us": "≤ +100 µs over off", "mb_s": "within 2 % of no firewall"}


def ngtls(tool, *args, timeout=300):
    p = lab.run([tool] + [str(a) for a in args], ns=lab.SBX, uid=lab.AGENT_UID, timeout=timeout)
    return json.loads(p.stdout.strip().splitlines()[-1])


def server(L, tool):
    d = os.path.join(L.dir, "net", "ngtls")
    os.makedirs(d, exist_ok=True)
    s = lab.Proc("ngtls", [tool, "serve", str(PORT), "0", GOOD, EVIL], os.path.join(d, "out"), ns=lab.NET)
    L.procs.append(s)
    if not lab.wait_until(lambda: "ready" in s.tail() or not s.alive(), 20) or not s.alive():
        raise lab.Fail("ngtls serve did not start:\n" + s.tail())
    return s


def measure(a, setup):
    """One turn of one setup (its namespace already made): the figures."""
    ngtls(a.tool, "hs", a.warm, 1, V4, PORT, GOOD)
    lat = ngtls(a.tool, "hs", a.lat, 1, V4, PORT, GOOD)
    rate = ngtls(a.tool, "hs", a.rate, a.conc, V4, PORT, GOOD)
    bulks = [ngtls(a.tool, "bulk", a.bulk, V4, PORT, GOOD) for _ in range(3)]
    r = {"lat": lat, "rate": rate, "bulk": bulks,
         "conn_s": rate["conn_s"], "p50_us": lat["p50_us"], "p90_us": lat["p90_us"], "p99_us": lat["p99_us"],
         "flight_p50_us": lat["flight_p50_us"], "flight_p99_us": lat["flight_p99_us"],
         "rate_p50_us": rate["p50_us"], "rate_p99_us": rate["p99_us"],
         "mb_s": statistics.median(b["mb_s"] for b in bulks)}
    if setup == "enforce":
        # the check is really on: the other name on that address is reset
        r["evil"] = ngtls(a.tool, "hs", 3, 1, V4, PORT, EVIL)
    return r


def turn(L, a, setup, rnd):
    if setup == "no-firewall":
        L.fresh_sbx()
        return measure(a, setup)
    t = tests_lab.T(L, "bench-sni-%s-%d" % (setup, rnd))
    try:
        t.namegate(allow=ALLOW, gate={"bind": setup, "tls_ports": "tcp/%d" % PORT})
        tests_lab.want_answer(GOOD, "A", V4)
        return measure(a, setup)
    finally:
        t.close()


def verdict(res, a):
    """Empty when every setup ran and all its connections and its bulk
    transfers got through; else what did not."""
    bad = []
    for k, v in res.items():
        if len(v) != a.rounds:
            bad.append("%s ran %d of %d rounds" % (k, len(v), a.rounds))
        for x in v:
            for what, n in (("lat", a.lat), ("rate", a.rate)):
                if x[what]["ok"] != n:
                    bad.append("%s: %d/%d connected (%s)" % (k, x[what]["ok"], n, json.dumps(x[what])))
            for b in x["bulk"]:
                if b["outcome"] != "connected" or b["bytes"] != a.bulk:
                    bad.append("%s: bulk %s, %d/%d bytes" % (k, b["outcome"], b["bytes"], a.bulk))
            if k == "enforce" and x["evil"]["reset"] != x["evil"]["n"]:
                bad.append("enforce: the other name was not reset (%s)" % json.dumps(x["evil"]))
    return "; ".join(bad)


def spread(xs):
    return "%s..%s" % (fmt(min(xs)), fmt(max(xs)))


def fmt(x):
    return "%.3f" % x if abs(x) < 10 else "%.0f" % x


def report(res):
    fig = ("conn_s", "p50_us", "p90_us", "p99_us", "flight_p50_us", "rate_p99_us", "mb_s")
    med = {k: {f: statistics.median(x[f] for x in v) for f in fig} for k, v in res.items()}
    rounds = len(res["enforce"])
    # the same ratio within each round (the setups of one round ran back to back)
    per = {"conn_s": [res["enforce"][i]["conn_s"] / res["off"][i]["conn_s"] for i in range(rounds)],
           "p50_us": [res["enforce"][i]["p50_us"] - res["off"][i]["p50_us"] for i in range(rounds)],
           "mb_s": [res["enforce"][i]["mb_s"] / res["no-firewall"][i]["mb_s"] for i in range(rounds)],
           "mb_s_off": [res["off"][i]["mb_s"] / res["no-firewall"][i]["mb_s"] for i in range(rounds)]}
    print(json.dumps({"median": med, "per_round": per}, indent=1))
    on, off, nofw = med["enforce"], med["off"], med["no-firewall"]

    def row(label, f, unit):
        xs = {k: [x[f] for x in res[k]] for k in SETUPS}
        return "| %s | %s (%s) | %s (%s) | %s (%s) |" % (
            label, fmt(on[f]), spread(xs["enforce"]), fmt(off[f]), spread(xs["off"]),
            fmt(nofw[f]), spread(xs["no-firewall"]))
    print("\nper setup: median of %d rounds (min..max)\n" % rounds)
    print("| figure | check on | check off | no firewall |")
    print("| --- | --- | --- | --- |")
    print(row("TLS connections/s (concurrent)", "conn_s", ""))
    print(row("connect → first server byte p50, µs (one at a time)", "p50_us", ""))
    print(row("connect → first server byte p90, µs", "p90_us", ""))
    print(row("connect → first server byte p99, µs", "p99_us", ""))
    print(row("ClientHello → first server byte p50, µs", "flight_p50_us", ""))
    print(row("connect → first server byte p99, µs (concurrent)", "rate_p99_us", ""))
    print(row("bulk on one connection, MB/s", "mb_s", ""))
    print("\nagainst the targets\n")
    print("| figure | of the medians | per round: median (min..max) | target |")
    print("| --- | --- | --- | --- |")
    print("| connections/s, on vs off | %.3f× | %.3f× (%s) | %s |" % (
        on["conn_s"] / off["conn_s"], statistics.median(per["conn_s"]), spread(per["conn_s"]), TARGETS["conn_s"]))
    print("| p50 connect → first byte, on − off | %+.0f µs | %+.0f µs (%s) | %s |" % (
        on["p50_us"] - off["p50_us"], statistics.median(per["p50_us"]), spread(per["p50_us"]), TARGETS["p50_us"]))
    print("| bulk, on vs no firewall | %.3f× | %.3f× (%s) | %s |" % (
        on["mb_s"] / nofw["mb_s"], statistics.median(per["mb_s"]), spread(per["mb_s"]), TARGETS["mb_s"]))
    print("| bulk, off vs no firewall | %.3f× | %.3f× (%s) | (the noise floor) |" % (
        off["mb_s"] / nofw["mb_s"], statistics.median(per["mb_s_off"]), spread(per["mb_s_off"])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--tool", help="ngtls (default BUILD/bench/ngtls)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--warm", type=int)
    ap.add_argument("--lat", type=int)
    ap.add_argument("--rate", type=int)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--bulk", type=int)
    ap.add_argument("--json", help="write every turn's figures here")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    a.tool = os.path.abspath(a.tool or os.path.join(a.build, "bench", "ngtls"))
    for k, full, smoke in (("rounds", 6, 1), ("warm", 200, 10), ("lat", 1000, 30), ("rate", 2000, 60),
                           ("bulk", 200 * 1000 * 1000, 10 * 1000 * 1000)):
        if getattr(a, k) is None:
            setattr(a, k, smoke if a.smoke else full)
    print("sni: load before: %s on %d cores; %d rounds of %d connections one at a time, %d at %d in flight, "
          "3 x %d bytes" % (" ".join("%.2f" % x for x in os.getloadavg()), os.cpu_count(), a.rounds, a.lat,
                             a.rate, a.conc, a.bulk), flush=True)
    L = lab.Lab(a.build)
    res = {k: [] for k in SETUPS}
    try:
        L.start()
        server(L, a.tool)
        for r in range(a.rounds):
            order = SETUPS[r % 3:] + SETUPS[:r % 3]
            for setup in order:
                res[setup].append(turn(L, a, setup, r))
            print("sni: round %d (%s): %s" % (r + 1, " ".join(order), "  ".join(
                "%s %.0f/s p50 %d µs %.0f MB/s" % (k, res[k][-1]["conn_s"], res[k][-1]["p50_us"] or 0,
                                                   res[k][-1]["mb_s"]) for k in SETUPS)), flush=True)
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
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    bad = verdict(res, a)
    if not bad:
        report(res)
    print("FAIL bench-sni (%s)" % bad if bad else "PASS bench-sni", flush=True)
    return 1 if bad else 0


def on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
