"""ECH stripped from answers: an HTTPS/SVCB record's ech SvcParam would let
the client encrypt its SNI, so the wire (and anyone reading it) no longer
sees which name a TLS connection is for. The resolver removes it from every
HTTPS/SVCB record it relays, fresh, from the cache and from a reply
template alike, unless [resolver] keep_ech = yes; the other params stay."""
import lab
from lab import dig
from tests_lab import BASE_ALLOW, check, test, want_answer, want_connect, want_event

NAME = "ech.lab.test"
HINT4, HINT6 = "192.0.2.42", "2001:db8:1::42"


def https_rdata(r):
    rrs = [a[3] for a in r.answers if a[2] == "HTTPS"]
    check(len(rrs) == 1, "dig %s HTTPS: want exactly one HTTPS record" % NAME, r)
    return rrs[0]


def want_params(rd, ech):
    for p in ('alpn="h2,h3"', "ipv4hint=" + HINT4, "ipv6hint=" + HINT6):
        check(p in rd or p.replace('"', "") in rd, "the HTTPS record lost %s" % p, rd)
    check(("ech=" in rd) == ech, "the HTTPS record %s ech" % ("must keep" if ech else "must not carry"), rd)


@test("110.ech.stripped")
def t_stripped(t):
    """By default no ech reaches the client, over UDP and TCP, fresh, from
    the cache and from the reply template; alpn and both hints stay, and
    the hints are allowed."""
    up = want_answer(NAME, "HTTPS", server=lab.UPSTREAM4)
    want_params(https_rdata(up), True)  # the zone serves it with ech
    ng = t.namegate(allow=BASE_ALLOW + [NAME])
    m = ng.mark()
    for i, tcp in enumerate((False, False, False, True)):
        r = want_answer(NAME, "HTTPS", tcp=tcp)
        want_params(https_rdata(r), False)
    want_event(ng, m, "dns.allow", name=NAME, type="HTTPS", cached=1)
    want_connect(HINT4, 443)
    want_connect(HINT6, 443)


@test("111.ech.keep")
def t_keep(t):
    """keep_ech = yes relays the record as the upstream sent it; a reload to
    keep_ech = no takes it off the very next answer (no template or cache
    entry of the old config serves)."""
    ng = t.namegate(allow=BASE_ALLOW + [NAME], resolver={"keep_ech": "yes"})
    for _ in range(3):
        want_params(https_rdata(want_answer(NAME, "HTTPS")), True)
    m = ng.mark()
    ng.write_conf(ng.conf_text.replace("keep_ech = yes", "keep_ech = no"))
    want_event(ng, m, "config.load", timeout=6, count=2)
    want_params(https_rdata(want_answer(NAME, "HTTPS")), False)
    want_params(https_rdata(want_answer(NAME, "HTTPS")), False)
