#!/usr/bin/env python3
"""Offline checks of deploy/kubernetes/*.yaml: they parse, and every pod
spec in them keeps the agent unprivileged and gives the capabilities only
to namegate's own containers. Prints PASS/FAIL lines like the other suites.

    manifests.py DIR [NAMEGATE_NFQ]

With the gate's binary, the ConfigMap's sandbox.ini must pass --check-config.
"""
import os
import subprocess
import sys
import tempfile

import yaml

INIT_CAPS = {"NET_ADMIN", "NET_RAW"}
SIDECAR_CAPS = {"NET_ADMIN", "NET_RAW", "SETUID", "SETGID", "SETPCAP", "NET_BIND_SERVICE"}
PROBE = ["/usr/sbin/namegate-probe"]
# The resolver's uid in the namegate image: the one uid that may reach the
# upstream, so never the agent's.
RESOLVER_UID = 999

failed = 0


def result(ok, name, why=""):
    global failed
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not why else " (" + why + ")"))
    if not ok:
        failed += 1


def pod_specs(doc):
    if doc.get("kind") == "Pod":
        yield doc["metadata"].get("name", "?"), doc["spec"]
    elif doc.get("kind") in ("Job", "Deployment", "StatefulSet", "DaemonSet"):
        yield doc["metadata"].get("name", doc["metadata"].get("generateName", "?")), doc["spec"]["template"]["spec"]
    elif doc.get("kind") == "CronJob":
        yield doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def caps(c):
    sc = c.get("securityContext") or {}
    cp = sc.get("capabilities") or {}
    return sc, set(cp.get("add") or []), set(cp.get("drop") or [])


def check_spec(name, spec):
    errs = []
    if spec.get("dnsPolicy") != "None":
        errs.append("dnsPolicy is not None")
    dc = spec.get("dnsConfig") or {}
    if dc.get("nameservers") != ["127.0.0.1"]:
        errs.append("dnsConfig nameservers are not [127.0.0.1]")
    if {"name": "ndots", "value": "5"} not in (dc.get("options") or []):
        errs.append("dnsConfig lacks ndots:5")
    if not dc.get("searches"):
        errs.append("dnsConfig has no search list")
    for k in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
        if spec.get(k):
            errs.append(k + " is true")
    if spec.get("automountServiceAccountToken") is not False:
        errs.append("automountServiceAccountToken is not false")
    inits = spec.get("initContainers") or []
    if not inits or inits[0].get("command") != ["/usr/sbin/namegate-kube", "init"]:
        errs.append("the first init container is not namegate-kube init")
    sidecars = [c for c in inits + spec.get("containers", []) if c.get("command") == ["/usr/sbin/namegate-kube", "sidecar"]]
    if len(sidecars) != 1:
        errs.append("not exactly one namegate-kube sidecar")
    native = [c for c in inits if c.get("restartPolicy") == "Always"]
    if native and (native != sidecars or "startupProbe" not in native[0]):
        errs.append("a native sidecar that is not namegate's, or has no startupProbe")
    ro = {}
    for c in inits + spec.get("containers", []):
        sc, add, drop = caps(c)
        cname = c.get("name", "?")
        if sc.get("privileged"):
            errs.append(cname + ": privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            errs.append(cname + ": allowPrivilegeEscalation is not false")
        if "ALL" not in drop:
            errs.append(cname + ": capabilities do not drop ALL")
        for m in c.get("volumeMounts") or []:
            ro.setdefault(m["name"], []).append(bool(m.get("readOnly")))
        cmd = c.get("command")
        if c is inits[0]:
            if add - INIT_CAPS:
                errs.append(cname + ": capabilities beyond NET_ADMIN, NET_RAW: " + " ".join(sorted(add - INIT_CAPS)))
        elif c in sidecars:
            if add - SIDECAR_CAPS:
                errs.append(cname + ": capabilities beyond the sidecar's: " + " ".join(sorted(add - SIDECAR_CAPS)))
            for p in ("readinessProbe", "livenessProbe"):
                if (c.get(p) or {}).get("exec", {}).get("command") != PROBE:
                    errs.append(cname + ": " + p + " is not exec namegate-probe")
        else:
            # The agent (and any container of the user's).
            if add:
                errs.append(cname + ": adds capabilities " + " ".join(sorted(add)))
            if sc.get("runAsNonRoot") is not True:
                errs.append(cname + ": runAsNonRoot is not true")
            uid = sc.get("runAsUser")
            if uid is None or uid in (0, RESOLVER_UID):
                errs.append(cname + ": runAsUser %r (must be set, not 0, not the resolver's %d)" % (uid, RESOLVER_UID))
            if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                errs.append(cname + ": seccompProfile is not RuntimeDefault")
            if cmd and cmd[0].startswith("/usr/sbin/namegate"):
                errs.append(cname + ": runs a namegate helper")
    for v in spec.get("volumes") or []:
        if "configMap" in v and not all(ro.get(v["name"], [False])):
            errs.append("ConfigMap volume " + v["name"] + " mounted read-write")
        if "hostPath" in v:
            errs.append("hostPath volume " + v["name"])
    return errs


def main():
    d = sys.argv[1]
    nfq = sys.argv[2] if len(sys.argv) > 2 else ""
    docs = {}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".yaml"):
            continue
        try:
            with open(os.path.join(d, f)) as fh:
                docs[f] = [x for x in yaml.safe_load_all(fh) if x]
            result(True, "manifests.parse-" + f)
        except yaml.YAMLError as e:
            result(False, "manifests.parse-" + f, str(e).replace("\n", " "))
    nspec = 0
    for f, ds in docs.items():
        for doc in ds:
            for name, spec in pod_specs(doc):
                nspec += 1
                errs = check_spec(name, spec)
                result(not errs, "manifests.security-" + f, "; ".join(errs))
            if doc.get("kind") == "ConfigMap" and nfq:
                ini = doc["data"]["sandbox.ini"]
                with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as t:
                    t.write(ini)
                os.chmod(t.name, 0o644)
                r = subprocess.run([nfq, "-c", t.name, "--check-config"], capture_output=True, text=True)
                os.unlink(t.name)
                result(r.returncode == 0, "manifests.configmap-check-config", r.stderr.strip())
    result(nspec >= 2, "manifests.pod-specs", "found %d pod specs" % nspec)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
