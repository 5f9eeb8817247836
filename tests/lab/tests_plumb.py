"""Plumbing: the rule text's port lists against the real kernel (rules.c
multiport_rules). One multiport match takes 15 ports; a list longer than
that must become several rules, none lost."""
from tests_lab import test, want_event
from tests_sni import EVIL, GOOD, TLS_PORT, V4, sni, up, want_reset, want_tls


@test("129.plumb.bind-many-ports")
def t_bind_many_ports(t):
    """With 16 TLS ports the 16th is checked too: the off-list SNI on it is
    reset and logged, the allowed one connects (rules.c once put only the
    first 15 checked ports into the NAMEGATE-PEND rule, so a flow to the
    16th left by the set alone, its ClientHello unread)."""
    ports = " ".join("tcp/%d" % p for p in range(9001, 9016)) + " tcp/%d" % TLS_PORT
    ng = up(t, gate={"tls_ports": ports})
    want_tls(V4, GOOD)
    m = ng.mark()
    r = sni("tls", V4, TLS_PORT, EVIL)
    want_reset(r, "the off-list SNI on the 16th TLS port")
    want_event(ng, m, "flow.deny", dst=V4, dport=TLS_PORT, reason="sni", sni=EVIL, names=GOOD)
