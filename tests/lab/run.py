#!/usr/bin/env python3
"""Run the namegate lab tests (as root).

  run.py [--build DIR] [-k PATTERN]... [--keep] [--list] [--results FILE] [--no-figures]

--build defaults to $NAMEGATE_BUILD, else build/ at the top of the tree.
-k selects tests whose name contains PATTERN (or matches it as a regex).
Prints "PASS|FAIL|SKIP <name>" per test; with --results, also writes those
lines to FILE. Exit status 1 if any test failed.
"""
import argparse
import os
import re
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402
import tests_lab  # noqa: E402
import glob  # noqa: E402
import importlib  # noqa: E402

# Every other tests_*.py registers its tests in tests_lab.TESTS when imported.
for _path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests_*.py"))):
    _mod = os.path.basename(_path)[:-3]
    if _mod != "tests_lab":
        importlib.import_module(_mod)

PER_TEST_TIMEOUT = 90


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted("signal %d" % signum)


class TestTimeout(lab.Fail):
    pass


def on_alarm(signum, frame):
    raise TestTimeout("test took longer than %d s" % PER_TEST_TIMEOUT)


def indent(s, n=4):
    return "\n".join(" " * n + ln for ln in str(s).splitlines())


def main():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("NAMEGATE_BUILD") or os.path.join(top, "build"))
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("--keep", action="store_true", help="keep the lab directory")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--results")
    ap.add_argument("--no-figures", action="store_true")
    a = ap.parse_args()

    sel = [(n, f) for n, f in tests_lab.TESTS
           if not a.k or any(k in n or re.search(k, n) for k in a.k)]
    if a.list:
        for n, _ in sel:
            print(n)
        return 0
    if os.geteuid() != 0:
        print("lab: must run as root", file=sys.stderr)
        return 2
    results = []
    resf = open(a.results, "a") if a.results else None

    def record(status, name, secs, detail=None):
        print("%s lab/%s (%.1fs)" % (status, name, secs), flush=True)
        if detail:
            print(indent(detail), flush=True)
        results.append((status, name))
        if resf:
            resf.write("%s lab/%s\n" % (status, name))
            resf.flush()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    L = lab.Lab(a.build, keep=a.keep)
    missing = [b for b in (L.nfq_bin, L.resolver_bin) if not os.access(b, os.X_OK)]
    t_all = time.monotonic()
    try:
        try:
            L.start()
        except Exception as e:  # noqa: BLE001
            record("FAIL", "lab.start", time.monotonic() - t_all, "%s\n%s" % (e, traceback.format_exc()))
            return 1
        print("lab: %s (build %s)" % (L.dir, L.build), flush=True)
        for name, fn in sel:
            t0 = time.monotonic()
            if missing and name != "lab.selfcheck":
                record("FAIL", name, 0, "binary not built: %s" % ", ".join(missing))
                continue
            t = tests_lab.T(L, name)
            status, detail = "PASS", None
            del lab.sanitizer_reports[:]
            signal.alarm(PER_TEST_TIMEOUT)
            try:
                fn(t)
            except lab.Skip as e:
                status, detail = "SKIP", str(e)
            except lab.Fail as e:
                status, detail = "FAIL", "%s\n%s" % (e, t.diag())
            except Interrupted:
                raise
            except Exception:  # noqa: BLE001
                status, detail = "FAIL", "%s\n%s" % (traceback.format_exc(), t.diag())
            finally:
                signal.alarm(0)
                try:
                    t.close()
                except Exception as e:  # noqa: BLE001
                    print("    (cleanup: %s)" % e)
            if lab.sanitizer_reports:
                status = "FAIL"
                detail = "%s\nsanitizer report / unclean exit:\n%s" % (
                    detail or "", "\n".join(lab.sanitizer_reports))
            record(status, name, time.monotonic() - t0, detail)
        if not a.no_figures and not missing and not a.k:
            tests_lab.measure(L)
    except Interrupted as e:
        print("lab: interrupted (%s), cleaning up" % e, flush=True)
        results.append(("FAIL", "interrupted"))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        L.stop()
        if resf:
            resf.close()
    p = sum(1 for s, _ in results if s == "PASS")
    f = sum(1 for s, _ in results if s == "FAIL")
    s = sum(1 for s, _ in results if s == "SKIP")
    print("lab: %d passed, %d failed, %d skipped in %.0f s" % (p, f, s, time.monotonic() - t_all), flush=True)
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
