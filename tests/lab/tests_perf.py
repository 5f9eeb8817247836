"""[resolver] cache_size: the resolver keeps that many answers, the least
recently used dropped first; a reload to another size keeps the most
recently used answers up to it, and a size out of range is a config error
at its line that leaves the running size (and its answers) in place."""
from tests_lab import BASE_ALLOW, check, test, want_answer, want_event

WWW, V4, SSH = "www.lab.test", "v4only.lab.test", "ssh.lab.test"


def cached(ng, name):
    """Asks for name's A record; True if the answer came from the cache."""
    m = ng.mark()
    want_answer(name, "A")
    ev = want_event(ng, m, "dns.allow", name=name, type="A")
    return ev[-1].get("cached") == "1"


def reload(ng, old, new, event="config.load"):
    m = ng.mark()
    ng.write_conf(ng.conf_text.replace("cache_size = %s" % old, "cache_size = %s" % new))
    return want_event(ng, m, event, timeout=6, count=1, daemon="namegate-resolver")


@test("115.perf.cache_size")
def t_cache_size(t):
    """cache_size = 2 holds two answers; the third evicts the least recently
    used. A reload to 1 keeps the most recently used one; cache_size = 0 is
    refused with file:line and the size of 1 stays."""
    ng = t.namegate(allow=BASE_ALLOW, resolver={"cache_size": "2"})
    for name in (WWW, V4, SSH):
        check(not cached(ng, name), "%s: the first answer cannot come from the cache" % name)
    check(not cached(ng, WWW), "cache_size = 2: the oldest of three answers must be gone")
    check(cached(ng, SSH), "cache_size = 2: the newest answer must be kept")
    # now: ssh most recently used, then www
    reload(ng, 2, 1)
    check(cached(ng, SSH), "reload to cache_size = 1: the most recently used answer must stay")
    check(not cached(ng, WWW), "reload to cache_size = 1: the older answer must go")
    # now the cache holds www only
    ev = reload(ng, 1, 0, event="config.error")
    line = [i + 1 for i, ln in enumerate(ng.conf_text.splitlines()) if ln.startswith("cache_size")][0]
    check(ev[0].get("file") == ng.conf and ev[0].get("line") == str(line)
          and "cache_size must be 1..1000000" in ev[0].get("error", ""),
          "cache_size = 0: config.error with its file and line", ev[0]["_line"])
    check(cached(ng, WWW), "after the refused reload the running cache must keep its answer")
    check(not cached(ng, SSH), "after the refused reload the size must still be 1")
