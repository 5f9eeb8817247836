"""The cache stores each answer once: the reply template stands in for the
answer as received when it holds it whole. A hit the template does not fit
(another EDNS presence, a reload's new config generation) is built from
what the cache kept, and must be the reply a fresh answer gives, byte for
byte but for the TTLs' aging: for a plain answer, a CNAME chain, an HTTPS
record, a record without addresses, and an answer the filter rewrote (ech
stripped), whose received bytes are kept."""
import lab
from client import skip_name
from lab import AGENT_UID, run
from tests_lab import BASE_ALLOW, check, test, want_event

# Sends one query as the agent and prints the reply in hex: argv name type
# id edns(-1 = none).
RAW = r"""
import socket, struct, sys
name, qtype, qid, edns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns >= 0 else 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack("!HH", qtype, 1)
if edns >= 0:
    q += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(q, ("127.0.0.1", 53))
print(s.recv(65535).hex())
"""


def ask(name, qtype, qid, edns):
    p = run(["python3", "-c", RAW, name, str(qtype), str(qid), str(edns)], ns=lab.SBX, uid=AGENT_UID,
            check=False, timeout=10)
    check(p.returncode == 0 and p.stdout.strip(), "no reply to %s/%d" % (name, qtype), p.stdout, p.stderr)
    return bytes.fromhex(p.stdout.strip())


def masked(w):
    """The reply with every record's TTL zeroed (the OPT record's flags
    stay): what two replies of different ages must share."""
    w = bytearray(w)
    pos = 12
    for _ in range(w[4] << 8 | w[5]):
        pos = skip_name(w, pos) + 4
    for _ in range(sum(w[k] << 8 | w[k + 1] for k in (6, 8, 10))):
        pos = skip_name(w, pos)
        rtype = w[pos] << 8 | w[pos + 1]
        if rtype != 41:
            w[pos + 4:pos + 8] = b"\0\0\0\0"
        pos += 10 + (w[pos + 8] << 8 | w[pos + 9])
    check(pos == len(w), "a reply that does not parse to its end", w.hex())
    return bytes(w)


def cached(ng, since, name):
    ev = want_event(ng, since, "dns.allow", name=name)
    return ev[-1].get("cached") == "1"


def reload(ng, old, new):
    m = ng.mark()
    ng.write_conf(ng.conf_text.replace("cache_size = %s" % old, "cache_size = %s" % new))
    want_event(ng, m, "config.load", timeout=6, count=1, daemon="namegate-resolver")


@test("150.cache.store-once-same-reply")
def t_store_once(t):
    """Per name: a miss with EDNS (its template stored, and standing in for
    the answer), a hit in other case without EDNS, a hit after a reload,
    then the same two clients after the entry was evicted (fresh answers):
    the hits' replies are the fresh answers' bytes, TTLs aside."""
    names = [("www.lab.test", 1), ("alias.lab.test", 1), ("svc.lab.test", 65), ("mail.lab.test", 15),
             ("ech.lab.test", 65)]
    ng = t.namegate(allow=BASE_ALLOW + ["ech.lab.test"], resolver={"cache_size": "4"})
    size = 4
    for name, qtype in names:
        mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(name))
        m = ng.mark()
        r1 = ask(name, qtype, 0x1111, 1232)
        check(not cached(ng, m, name), "%s: the first answer is a miss" % name)
        m = ng.mark()
        r2 = ask(mixed, qtype, 0x2222, -1)
        check(cached(ng, m, name), "%s: the second answer is a hit" % name)
        reload(ng, size, size + 1)
        size += 1
        m = ng.mark()
        r3 = ask(name, qtype, 0x1111, 1232)
        check(cached(ng, m, name), "%s: after a reload, still a hit" % name)
        # evict it: one entry, and another name asked
        reload(ng, size, 1)
        ask("v4only.lab.test", 1, 0x3333, -1)
        m = ng.mark()
        r4 = ask(mixed, qtype, 0x2222, -1)
        check(not cached(ng, m, name), "%s: evicted, a fresh answer" % name)
        m = ng.mark()
        r5 = ask(name, qtype, 0x1111, 1232)
        check(cached(ng, m, name), "%s: a hit on the fresh answer" % name)
        reload(ng, 1, 4)
        size = 4
        check(masked(r2) == masked(r4), "%s: a hit without EDNS in other case is the fresh answer's bytes" % name,
              r2.hex(), r4.hex())
        check(masked(r3) == masked(r1), "%s: a hit after a reload is the first answer's bytes" % name,
              r3.hex(), r1.hex())
        check(masked(r5) == masked(r1), "%s: a hit with EDNS on a template without is the first answer's bytes"
              % name, r5.hex(), r1.hex())
        check(r1[3] & 0x0f == 0 and (r1[6] << 8 | r1[7]) > 0, "%s: an answer with records" % name, r1.hex())


@test("151.cache.store-once-keeps-what-was-cut")
def t_store_once_cut(t):
    """An answer the filter rewrote (its HTTPS record's ech stripped) keeps
    its received bytes: after a reload to keep_ech = yes the hit carries
    ech again, byte for byte the fresh answer under the new config."""
    ng = t.namegate(allow=BASE_ALLOW + ["ech.lab.test"], resolver={"cache_size": "4"})
    m = ng.mark()
    r1 = ask("ech.lab.test", 65, 0x1111, 1232)
    check(not cached(ng, m, "ech.lab.test"), "the first answer is a miss")
    m = ng.mark()
    ng.write_conf(ng.conf_text.replace("cache_size = 4", "cache_size = 4\nkeep_ech = yes"))
    want_event(ng, m, "config.load", timeout=6, count=1, daemon="namegate-resolver")
    m = ng.mark()
    r2 = ask("ech.lab.test", 65, 0x1111, 1232)
    check(cached(ng, m, "ech.lab.test"), "after the reload, a hit")
    check(len(r2) > len(r1), "keep_ech = yes: the hit carries the ech the first reply lost", r1.hex(), r2.hex())
    reload(ng, 4, 1)
    ask("v4only.lab.test", 1, 0x3333, -1)
    m = ng.mark()
    r3 = ask("ech.lab.test", 65, 0x1111, 1232)
    check(not cached(ng, m, "ech.lab.test"), "evicted, a fresh answer")
    check(masked(r2) == masked(r3), "the hit is the fresh answer's bytes under keep_ech = yes", r2.hex(), r3.hex())
