"""A config the agent could change is refused: at start (exit 2 with the
reason), on every reload (config.error, the running config stays), and
when the file is reached read-write through another mount of its directory
(the `-v $PWD:/work` next to a `:ro` config mount)."""
import os

import lab
from lab import AGENT_UID, dig, run, wait_until
from tests_lab import check, no_event, test, want_answer, want_connect, want_event, want_refused

OFFLIST_IP = "192.0.2.99"  # blocked.lab.test's listener, never allowlisted here


def exited(p, timeout=5):
    """The return code of a daemon that should refuse to start, or None."""
    if not wait_until(lambda: not p.alive(), timeout):
        return None
    return p.p.returncode


def no_rules():
    r = run(["iptables", "-S", "NAMEGATE"], ns=lab.SBX, check=False)
    return r.returncode != 0


@test("80.confperm.agent-dir-refused-at-start")
def t_start_refused(t):
    """The config's directory belongs to the agent's uid, on a read-write
    file system: --check-config, --setup and both daemons refuse it with
    exit status 2 and say why; nothing is installed. Owned by root again,
    the same file starts."""
    ng = t.namegate(start=False)
    os.chown(ng.dir, AGENT_UID, AGENT_UID)
    why = "refused, the agent could change it: %s is owned by uid %d, not root" % (ng.dir, AGENT_UID)
    want = "%s: %s" % (ng.conf, why)
    for which in ("nfq", "resolver"):
        p = ng.cmd(which, "--check-config")
        check(p.returncode == 2, "%s --check-config: exit 2, not %d" % (which, p.returncode), p.stdout, p.stderr)
        check(want in p.stderr and "chown root" in p.stderr, "%s --check-config says why and how to fix it" % which,
              p.stderr)
        check("[allow]" not in p.stdout, "%s --check-config printed no config" % which, p.stdout)
    p = ng.cmd("nfq", "--setup")
    check(p.returncode == 2 and want in p.stderr, "--setup refused with the reason", p.returncode, p.stderr)
    check(no_rules(), "--setup installed nothing", run(["iptables", "-S"], ns=lab.SBX).stdout)
    for which, b in (("nfq", t.lab.nfq_bin), ("resolver", t.lab.resolver_bin)):
        p = t.bg("namegate-" + which, [b, "-c", ng.conf])
        rc = exited(p)
        check(rc == 2, "namegate-%s started on a config the agent owns: want exit 2, got %s" % (which, rc), p.tail())
        check(why in p.tail(), "namegate-%s says why" % which, p.tail())
    check(no_rules(), "no rules after the refused starts")
    # The documented fix works.
    os.chown(ng.dir, 0, 0)
    ng.setup()
    ng.start()
    want_answer("www.lab.test", "A", "192.0.2.10")
    want_connect("192.0.2.10", 443)


def write_mode(ng, text, mode):
    """Replace the config by rename, born with mode (never a moment of
    another mode with the new text)."""
    tmp = ng.conf + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, ng.conf)


@test("81.confperm.reload-refused")
def t_reload_refused(t):
    """While running: the file made world-writable, then its directory
    given to the agent, each with an edit (mode = audit and a new name):
    both daemons log config.error with the reason, the running config
    stays (the new name is refused, a direct connection is still
    rejected). Fixed, the next edit loads."""
    ng = t.namegate()
    good = ng.conf_text
    check("mode" not in good, "the test config sets no mode")
    evil = good.replace("[gate]\n", "[gate]\nmode = audit\n", 1).rstrip("\n") + "\ndomain = new1.lab.test\n"
    want_answer("www.lab.test", "A", "192.0.2.10")
    steps = (
        ("file o+w", lambda: write_mode(ng, evil, 0o646), "%s is world-writable (mode 0646)" % ng.conf),
        ("dir owned by the agent", lambda: (os.chown(ng.dir, AGENT_UID, AGENT_UID), write_mode(ng, evil, 0o644)),
         "%s is owned by uid %d, not root" % (ng.dir, AGENT_UID)),
    )
    for what, do, reason in steps:
        m = ng.mark()
        do()
        ev = want_event(ng, m, "config.error", timeout=6, count=2)
        check({e.get("daemon") for e in ev} >= {"namegate-nfq", "namegate-resolver"},
              "%s: both daemons log config.error" % what, *[e["_line"] for e in ev])
        for e in ev:
            check(e.get("file") == ng.conf and e.get("line") == "0", "%s: config.error file= line=0" % what,
                  e["_line"])
            check(e.get("error", "").startswith("refused, the agent could change it: " + reason),
                  "%s: config.error says why" % what, e["_line"])
        no_event(ng, m, "config.load")
        r = dig("new1.lab.test")
        check(r.status == "NXDOMAIN", "%s: the edit's new name must stay denied" % what, r)
        want_refused(OFFLIST_IP, 443)
        want_event(ng, m, "flow.deny", dst=OFFLIST_IP, timeout=3)
        no_event(ng, m, "flow.audit")
        want_answer("www.lab.test", "A", "192.0.2.10")
        want_connect("192.0.2.10", 443)
        check(ng.nfq.alive() and ng.resolver.alive(), "%s: daemons kept running" % what,
              ng.nfq.tail(5), ng.resolver.tail(5))
        # fixed: root's again, not writable by others; the same text then
        # loads (mode = audit included: that is root's choice to make)
        os.chown(ng.dir, 0, 0)
        m = ng.mark()
        ng.write_conf(good.rstrip("\n") + "\ndomain = new1.lab.test\n", how="rename")
        want_event(ng, m, "config.load", timeout=6, count=2)
        check(wait_until(lambda: dig("new1.lab.test").status == "NOERROR", 3, 0.1),
              "%s, fixed: the new name resolves" % what, dig("new1.lab.test"))
        m = ng.mark()
        ng.write_conf(good, how="rename")
        want_event(ng, m, "config.load", timeout=6, count=2)


BIND_SCRIPT = r"""
set -eu
d=$1 conf=$2 both=$3
mkdir -p "$d/fs" "$d/ro" "$d/rw"
# A file system of its own, so that nothing but these mounts reaches it.
mount -t tmpfs -o mode=0755 ngconf "$d/fs"
mkdir "$d/fs/cfg"
cp "$conf" "$d/fs/cfg/sandbox.ini"
chown -R %(uid)d:%(uid)d "$d/fs/cfg"
# The config directory read-only (like -v ~/.config/namegate:/etc/namegate:ro) ...
mount --bind "$d/fs/cfg" "$d/ro"
mount -o remount,bind,ro "$d/ro"
# ... and, in the bad layout, its parent read-write (like -v $PWD:/work).
if [ "$both" = 1 ]; then mount --bind "$d/fs" "$d/rw"; fi
umount "$d/fs"
for b in "$4" "$5"; do
    rc=0
    "$b" -c "$d/ro/sandbox.ini" --check-config >"$d/out" 2>&1 || rc=$?
    echo "== $(basename "$b") rc=$rc"
    cat "$d/out"
done
""" % {"uid": AGENT_UID}


@test("82.confperm.bind-mounts")
def t_bind(t):
    """In a private mount namespace: the config directory (files owned by
    the agent's uid) bind-mounted read-only at one path and its parent
    read-write at another: refused by both daemons, naming the read-write
    mount. With only the read-only mount: accepted."""
    ng = t.namegate(start=False, fresh=False)
    for both in (1, 0):
        d = os.path.join(ng.dir, "bind%d" % both)
        os.makedirs(d)
        p = run(["unshare", "-m", "--propagation", "private", "sh", "-c", BIND_SCRIPT, "sh", d, ng.conf, str(both),
                 t.lab.nfq_bin, t.lab.resolver_bin], ns=lab.SBX, check=False)
        check(p.returncode == 0, "the mount script failed", p.stdout, p.stderr)
        parts = p.stdout.split("== ")[1:]
        check(len(parts) == 2, "two --check-config runs", p.stdout)
        for part in parts:
            head, _, out = part.partition("\n")
            if both:
                check(head.endswith("rc=2"), "ro + rw mounts: %s must refuse (exit 2)" % head, out)
                check(("%s/ro is owned by uid %d, not root, and the read-write mount at %s/rw reaches it"
                       % (d, AGENT_UID, d)) in out, "the message names the read-write mount", out)
                check("~/.config/namegate" in out, "the message says how to fix it", out)
            else:
                check(head.endswith("rc=0"), "only the ro mount: %s must accept it" % head, out)
                check("[allow]" in out, "the effective config is printed", out)
