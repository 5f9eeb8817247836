"""TLS connections with the SNI / Host binding on, off, and with no firewall,
in the lab's namespaces (tests/lab), as ratios in one run.

  flock /run/nglab.lock python3 bench/sni.py --tool BUILD/bench/ngtls [--build DIR]
        [--rounds R] [--lat N] [--rate N] [--conc C] [--bulk BYTES] [--smoke] [--json FILE]

The load tools are C (bench/ngtls.c, OpenSSL's libssl): a TLS server in the
internet namespace (one process per core, pinned, ECDSA P-256, no session
tickets, so every connection is a full handshake) and, as the agent, a
client that opens connections (a real ClientHello with SNI, the server's
first flight, the handshake finished, a reset close) and reports
connections/s and the latency connect -> first server byte (p50/p90/p99),
and a bulk mode (one connection, BYTES, MB/s).

Three setups live side by side, so the client can take them in turns a few
hundred connections at a time: no firewall (a sandbox namespace of its own,
nglab-bnf, with no rules), check off (the lab's sandbox with namegate,
bind = enforce, to port PORT_OFF, which is not in tls_ports: the set admits
the flow in the kernel, as with bind = off, plus the one connmark match per
packet that enforce puts before the ESTABLISHED accept) and check on (the
same gate, port PORT_ON, in tls_ports). Every round takes the three in
turns, ABC BCA CAB ..., each: --lat connections one at a time (the
latency), --rate connections --conc at a time (connections/s), one --bulk
transfer (MB/s); slow drift on a shared box falls on all three alike, and
none always follows the same other. Reported: per setup the median over
the rounds and the spread (min..max); the ratios of the medians, and the
same ratio taken within each round (its median and spread), against the
targets.

bench/run runs it as its part "sni" (under the lab's lock). The figures are
printed, not asserted; the one check (PASS/FAIL bench-sni) is that all three
setups ran, every connection and bulk transfer of each got through, and with
the check on the other name on that address was reset.
--smoke: 2 rounds, 20/40 connections, 10 MB (tests/run runs it).
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

PORT_ON, PORT_OFF = 8444, 8445  # the bench's own TLS ports (tests_sni's python server has 8443)
V4, GOOD, EVIL = tests_sni.V4, tests_sni.GOOD, tests_sni.EVIL
ALLOW = tests_lab.BASE_ALLOW + ["domain = %s tcp/%d tcp/%d" % (GOOD, PORT_ON, PORT_OFF)]
GATE = {"bind": "enforce", "tls_ports": "tcp/%d" % PORT_ON}
BNF = "nglab-bnf"  # the no-firewall sandbox
SETUPS = ("no-firewall", "off", "enforce")
WHERE = {"no-firewall": (BNF, PORT_ON), "off": (lab.SBX, PORT_OFF), "enforce": (lab.SBX, PORT_ON)}
TARGETS = {"conn_s": "≥ 0.9× of off", "p50_us": "≤ +100 µs over off", "mb_s": "within 2 % of no firewall"}


def ngtls(tool, ns, *args, timeout=300):
    p = lab.run([tool] + [str(a) for a in args], ns=ns, uid=lab.AGENT_UID, timeout=timeout)
    return json.loads(p.stdout.strip().splitlines()[-1])


def server(L, tool):
    d = os.path.join(L.dir, "net", "ngtls")
    os.makedirs(d, exist_ok=True)
    s = lab.Proc("ngtls", [tool, "serve", "%d,%d" % (PORT_ON, PORT_OFF), "0", GOOD, EVIL],
                 os.path.join(d, "out"), ns=lab.NET)
    L.procs.append(s)
    if not lab.wait_until(lambda: "ready" in s.tail() or not s.alive(), 20) or not s.alive():
        raise lab.Fail("ngtls serve did not start:\n" + s.tail())
    return s


def make_bnf():
    """A second sandbox namespace with no rules at all, its own veth pair
    to the internet namespace (198.18.1.0/24)."""
    drop_bnf()
    lab.run(["ip", "netns", "add", BNF])
    lab.run(["ip", "link", "add", "ngv-bnf", "netns", BNF, "type", "veth", "peer", "name", "ngv-bnfnet",
             "netns", lab.NET])
    for c in ("ip link set lo up", "ip addr add 198.18.1.2/24 dev ngv-bnf", "ip link set ngv-bnf up",
              "ip route add default via 198.18.1.1"):
        lab.run(c.split(), ns=BNF)
    for c in ("ip addr add 198.18.1.1/24 dev ngv-bnfnet", "ip link set ngv-bnfnet up"):
        lab.run(c.split(), ns=lab.NET)


def drop_bnf():
    lab.delete_netns(BNF)


def cpu_ns(pid):
    """The CPU time a process's threads have had, in ns (schedstat: not
    the 10 ms ticks of /proc/PID/stat)."""
    t = 0
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
            t += int(f.read().split()[0])
    return t


def turn(a, setup, gate_pid):
    """One turn of one setup: its figures, and the gate's CPU time per
    connection (what it costs whatever the box's load)."""
    ns, port = WHERE[setup]
    c0 = cpu_ns(gate_pid)
    lat = ngtls(a.tool, ns, "hs", a.lat, 1, V4, port, GOOD)
    rate = ngtls(a.tool, ns, "hs", a.rate, a.conc, V4, port, GOOD)
    gate_us = (cpu_ns(gate_pid) - c0) / 1000 / (a.lat + a.rate)
    bulk = ngtls(a.tool, ns, "bulk", a.bulk, V4, port, GOOD)
    return {"lat": lat, "rate": rate, "bulk": bulk, "gate_us": gate_us,
            "conn_s": rate["conn_s"], "p50_us": lat["p50_us"], "p90_us": lat["p90_us"], "p99_us": lat["p99_us"],
            "flight_p50_us": lat["flight_p50_us"], "rate_p99_us": rate["p99_us"], "mb_s": bulk["mb_s"]}


def paired(a):
    """--lat connections one at a time, taking the checked and the unchecked
    port of the gate in turns (ABAB...): the check's added latency,
    connection by connection."""
    r = ngtls(a.tool, lab.SBX, "hs", a.lat, 1, V4, "%d,%d" % (PORT_ON, PORT_OFF), GOOD)
    on, off = r["ports"][str(PORT_ON)], r["ports"][str(PORT_OFF)]
    r.update({q: on[q] - off[q] for q in ("p50_us", "p90_us", "p99_us", "flight_p50_us")})
    return r


def verdict(res, a, evil):
    """Empty when every setup ran and all its connections and its bulk
    transfers got through, and the check really was on; else what did not."""
    bad = []
    for k, v in res.items():
        if len(v) != a.rounds:
            bad.append("%s ran %d of %d rounds" % (k, len(v), a.rounds))
        for x in v:
            if k == "paired":
                if x["ok"] != a.lat:
                    bad.append("paired: %d/%d connected (%s)" % (x["ok"], a.lat, json.dumps(x)))
                continue
            for what, n in (("lat", a.lat), ("rate", a.rate)):
                if x[what]["ok"] != n:
                    bad.append("%s: %d/%d connected (%s)" % (k, x[what]["ok"], n, json.dumps(x[what])))
            if x["bulk"]["outcome"] != "connected" or x["bulk"]["bytes"] != a.bulk:
                bad.append("%s: bulk %s, %d/%d bytes" % (k, x["bulk"]["outcome"], x["bulk"]["bytes"], a.bulk))
    if evil is None or evil["reset"] != evil["n"]:
        bad.append("check on: the other name on that address was not reset (%s)" % json.dumps(evil))
    return "; ".join(bad)


def spread(xs):
    return "%s..%s" % (fmt(min(xs)), fmt(max(xs)))


def fmt(x):
    return "%.3f" % x if abs(x) < 10 else "%.0f" % x


def report(res):
    fig = ("conn_s", "p50_us", "p90_us", "p99_us", "flight_p50_us", "rate_p99_us", "mb_s", "gate_us")
    med = {k: {f: statistics.median(res[k][i][f] for i in range(len(res[k]))) for f in fig} for k in SETUPS}
    pair = {q: [x[q] for x in res["paired"]] for q in ("p50_us", "p90_us", "p99_us", "flight_p50_us")}
    rounds = len(res["enforce"])
    # the same ratio within each round (the setups of one round ran back to back)
    per = {"conn_s": [res["enforce"][i]["conn_s"] / res["off"][i]["conn_s"] for i in range(rounds)],
           "p50_us": [res["enforce"][i]["p50_us"] - res["off"][i]["p50_us"] for i in range(rounds)],
           "mb_s": [res["enforce"][i]["mb_s"] / res["no-firewall"][i]["mb_s"] for i in range(rounds)],
           "mb_s_off": [res["off"][i]["mb_s"] / res["no-firewall"][i]["mb_s"] for i in range(rounds)]}
    print(json.dumps({"median": med, "per_round": per, "paired": pair}, indent=1))
    on, off, nofw = med["enforce"], med["off"], med["no-firewall"]

    def row(label, f, unit):
        xs = {k: [x[f] for x in res[k]] for k in SETUPS}
        return "| %s | %s (%s) | %s (%s) | %s (%s) |" % (
            label, fmt(on[f]), spread(xs["enforce"]), fmt(off[f]), spread(xs["off"]),
            fmt(nofw[f]), spread(xs["no-firewall"]))
    print("\nper setup: median of %d rounds (min..max); check off = a port outside tls_ports\n" % rounds)
    print("| figure | check on | check off | no firewall |")
    print("| --- | --- | --- | --- |")
    print(row("TLS connections/s (concurrent)", "conn_s", ""))
    print(row("connect → first server byte p50, µs (one at a time)", "p50_us", ""))
    print(row("connect → first server byte p90, µs", "p90_us", ""))
    print(row("connect → first server byte p99, µs", "p99_us", ""))
    print(row("ClientHello → first server byte p50, µs", "flight_p50_us", ""))
    print(row("connect → first server byte p99, µs (concurrent)", "rate_p99_us", ""))
    print(row("bulk on one connection, MB/s", "mb_s", ""))
    print(row("namegate-nfq CPU per connection, µs", "gate_us", ""))
    print("\nagainst the targets\n")
    print("| figure | of the medians | per round: median (min..max) | target |")
    print("| --- | --- | --- | --- |")
    print("| connections/s, on vs off | %.3f× | %.3f× (%s) | %s |" % (
        on["conn_s"] / off["conn_s"], statistics.median(per["conn_s"]), spread(per["conn_s"]), TARGETS["conn_s"]))
    print("| p50 connect → first byte, on − off | %+.0f µs | %+.0f µs (%s) | %s |" % (
        on["p50_us"] - off["p50_us"], statistics.median(per["p50_us"]), spread(per["p50_us"]), TARGETS["p50_us"]))
    for q in ("p50_us", "p90_us", "p99_us"):
        print("| %s connect → first byte, on − off, paired ABAB in one client | | %+.0f µs (%s) | %s |" % (
            q[:3], statistics.median(pair[q]), spread(pair[q]), TARGETS["p50_us"] if q == "p50_us" else ""))
    print("| bulk, on vs no firewall | %.3f× | %.3f× (%s) | %s |" % (
        on["mb_s"] / nofw["mb_s"], statistics.median(per["mb_s"]), spread(per["mb_s"]), TARGETS["mb_s"]))
    print("| bulk, off vs no firewall | %.3f× | %.3f× (%s) | (the noise floor) |" % (
        off["mb_s"] / nofw["mb_s"], statistics.median(per["mb_s_off"]), spread(per["mb_s_off"])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--tool", help="ngtls (default BUILD/bench/ngtls)")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--lat", type=int)
    ap.add_argument("--rate", type=int)
    ap.add_argument("--conc", type=int, default=8)
    ap.add_argument("--bulk", type=int)
    ap.add_argument("--gate-nice", type=int, help="renice namegate-nfq to this (how much of the added latency "
                    "is the gate waiting for a core on a loaded box)")
    ap.add_argument("--json", help="write every turn's figures here")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    a.tool = os.path.abspath(a.tool or os.path.join(a.build, "bench", "ngtls"))
    for k, full, smoke in (("rounds", 15, 2), ("lat", 300, 20), ("rate", 600, 40),
                           ("bulk", 100 * 1000 * 1000, 10 * 1000 * 1000)):
        if getattr(a, k) is None:
            setattr(a, k, smoke if a.smoke else full)
    print("sni: load before: %s on %d cores; %d rounds of %d connections one at a time, %d at %d in flight, "
          "%d bytes%s" % (" ".join("%.2f" % x for x in os.getloadavg()), os.cpu_count(), a.rounds, a.lat,
                          a.rate, a.conc, a.bulk, "" if a.gate_nice is None else "; gate at nice %d" % a.gate_nice),
          flush=True)
    L = lab.Lab(a.build)
    res = {k: [] for k in SETUPS + ("paired",)}
    evil = None
    t = None
    try:
        L.start()
        make_bnf()
        server(L, a.tool)
        t = tests_lab.T(L, "bench-sni")
        # min_ttl: the set entry outlives the run
        ng = t.namegate(allow=ALLOW, gate=GATE, resolver={"min_ttl": "7200"}, fresh=False)
        tests_lab.want_answer(GOOD, "A", V4)
        if a.gate_nice is not None:
            os.setpriority(os.PRIO_PROCESS, ng.nfq.pid, a.gate_nice)
        # warm-up, and the check is really on: the other name on that
        # address is reset
        for setup in SETUPS:
            ngtls(a.tool, WHERE[setup][0], "hs", max(a.lat, 50), 1, V4, WHERE[setup][1], GOOD)
        evil = ngtls(a.tool, lab.SBX, "hs", 3, 1, V4, PORT_ON, EVIL)
        for r in range(a.rounds):
            order = SETUPS[r % 3:] + SETUPS[:r % 3]
            for setup in order:
                res[setup].append(turn(a, setup, ng.nfq.pid))
            res["paired"].append(paired(a))
            print("sni: round %d (%s): %s  paired p50 on - off %+d µs" % (r + 1, " ".join(order), "  ".join(
                "%s %.0f/s p50 %d µs %.0f MB/s" % (k, res[k][-1]["conn_s"], res[k][-1]["p50_us"] or 0,
                                                   res[k][-1]["mb_s"]) for k in SETUPS),
                res["paired"][-1]["p50_us"]), flush=True)
    except (lab.Fail, OSError, ValueError, KeyError, IndexError) as e:
        if t is not None:
            t.close()
        drop_bnf()
        L.stop()
        msg = str(e) or repr(e)
        print("FAIL bench-sni (%s)" % msg.splitlines()[0][:300])
        print(msg)
        return 1
    except KeyboardInterrupt:
        if t is not None:
            t.close()
        drop_bnf()
        L.stop()
        print("FAIL bench-sni (interrupted)")
        return 130
    t.close()
    drop_bnf()
    L.stop()
    print("sni: load after: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    bad = verdict(res, a, evil)
    if not bad:
        report(res)
    print("FAIL bench-sni (%s)" % bad if bad else "PASS bench-sni", flush=True)
    return 1 if bad else 0


def on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
