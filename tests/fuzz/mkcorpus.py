#!/usr/bin/env python3
"""Make the seed corpora in tests/fuzz/corpus/<target>/ (run as root; the
files are committed, so this is only needed to change them).

query:   the bytes dig really sends (captured on a UDP socket), for names and
         types the lab uses, with and without EDNS, plus a few odd ones.
answer:  nsd's real answers from tests/lab/lab.test.zone (CNAME chain, HTTPS
         hints, several A records, NXDOMAIN, TC), each prefixed with the
         selector byte fuzz_answer.c reads.
conf:    the repository's sandbox.ini and lab-style configs.
gateipc: ALLOW messages packed as common/gateipc.h lays them out.
packet:  IPv4/IPv6 TCP/UDP/ICMP headers, fragments, extension headers, each
         prefixed with the control byte fuzz_packet.c reads.
quic:    the client Initials of RFC 9001 / RFC 9369 A.2 as they are, and the
         plaintext CRYPTO frames of hellos (tests/lab/quicraw.py's), whole
         and cut in two, prefixed with fuzz_quic.c's control byte.

Everything runs in a network namespace made here (ngfz-corpus), on its own
loopback, and is deleted afterwards.
"""
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
NS = "ngfz-corpus"


def save(target, data, tag=""):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = (tag + "-" if tag else "") + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def nsexec(*cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", NS] + list(cmd), **kw)


# ------------------------------------------------------------------ DNS

QUERIES = [
    ("www.lab.test", "A"), ("www.lab.test", "AAAA"), ("alias.lab.test", "A"), ("alias.lab.test", "AAAA"),
    ("svc.lab.test", "HTTPS"), ("multi.lab.test", "A"), ("mail.lab.test", "MX"), ("mail.lab.test", "TXT"),
    ("blocked.lab.test", "A"), ("nope.lab.test", "A"), ("lab.test", "SOA"), ("lab.test", "NS"),
    ("lab.test", "ANY"), ("WwW.LaB.TeSt.", "A"), ("x.y.wild.test", "A"), ("apex.test", "AAAA"),
]


def capture_dig_queries(tmp):
    """dig's own bytes: a UDP socket on 127.0.0.1:5300 in the namespace."""
    code = ("import socket,sys,os\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',5300))\n"
            "s.settimeout(3);n=0\n"
            "while True:\n"
            "  try: d,a=s.recvfrom(65535)\n"
            "  except OSError: break\n"
            "  open(os.path.join(sys.argv[1],'q%03d'%n),'wb').write(d);n+=1\n")
    p = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", code, tmp])
    time.sleep(0.5)
    for name, qt in QUERIES:
        for extra in ([], ["+noedns"], ["+dnssec"], ["+bufsize=512", "+nsid"], ["+cookie"]):
            nsexec("dig", "+tries=1", "+time=1", "-p", "5300", "@127.0.0.1", name, qt, *extra,
                   capture_output=True)
    for extra in (["-c", "CH", "version.bind", "TXT"], ["lab.test", "AXFR", "+notcp"], ["lab.test", "IXFR=1", "+notcp"]):
        nsexec("dig", "+tries=1", "+time=1", "-p", "5300", "@127.0.0.1", *extra, capture_output=True)
    p.wait(10)
    out = []
    for f in sorted(os.listdir(tmp)):
        if f.startswith("q"):
            with open(os.path.join(tmp, f), "rb") as fh:
                out.append(fh.read())
    return out


def odd_queries():
    def q(flags, qd, body):
        return struct.pack(">HHHHHH", 0xbeef, flags, qd, 0, 0, 0) + body
    www = b"\x03www\x03lab\x04test\x00"
    return [
        q(0x0100, 1, www + struct.pack(">HH", 1, 1)),
        q(0x0100, 1, b"\x07www.lab\x04test\x00" + struct.pack(">HH", 1, 1)),  # a dot inside a label
        q(0x0100, 1, b"\xc0\x0c" + struct.pack(">HH", 1, 1)),  # compression loop
        q(0x0100, 2, www + struct.pack(">HH", 1, 1) + www + struct.pack(">HH", 28, 1)),
        q(0x2800, 1, www + struct.pack(">HH", 6, 1)),  # UPDATE opcode
        q(0x8180, 1, www + struct.pack(">HH", 1, 1)),  # a response
        q(0x0100, 1, www + struct.pack(">HH", 1, 3)),  # class CH
        q(0x0100, 1, www[:-1]),  # cut short
        b"\x00" * 11,
    ]


def capture_answers(tmp, queries):
    """nsd, authoritative for lab.test, on 127.0.0.1:5353 in the namespace."""
    d = os.path.join(tmp, "nsd")
    os.makedirs(d)
    shutil.copy(os.path.join(TOP, "tests", "lab", "lab.test.zone"), d)
    with open(os.path.join(d, "nsd.conf"), "w") as f:
        f.write('server:\n ip-address: 127.0.0.1@5353\n username: ""\n chroot: ""\n zonesdir: "%s"\n'
                ' pidfile: "%s/nsd.pid"\n database: ""\n zonelistfile: "%s/zone.list"\n'
                ' xfrdfile: "%s/xfrd.state"\n logfile: "%s/nsd.log"\n server-count: 1\n do-ip6: no\n'
                'remote-control:\n control-enable: no\nzone:\n name: "lab.test"\n zonefile: "lab.test.zone"\n'
                % (d, d, d, d, d))
    p = subprocess.Popen(["ip", "netns", "exec", NS, "nsd", "-d", "-c", os.path.join(d, "nsd.conf")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    code = ("import socket,sys,os\n"
            "d=sys.argv[1]\n"
            "for i,f in enumerate(sorted(os.listdir(d))):\n"
            "  q=open(os.path.join(d,f),'rb').read()\n"
            "  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(1)\n"
            "  s.sendto(q,('127.0.0.1',5353))\n"
            "  try: open(os.path.join(d,'..','a%03d'%i),'wb').write(s.recv(65535))\n"
            "  except OSError: pass\n")
    qd = os.path.join(tmp, "qs")
    os.makedirs(qd)
    for i, q in enumerate(queries):
        with open(os.path.join(qd, "%03d" % i), "wb") as f:
            f.write(q)
    time.sleep(1)
    nsexec("python3", "-c", code, qd, capture_output=True, timeout=120)
    p.terminate()
    p.wait(5)
    out = []
    for f in sorted(os.listdir(tmp)):
        if f.startswith("a"):
            with open(os.path.join(tmp, f), "rb") as fh:
                out.append(fh.read())
    return out


def ech_answers(hdr, svc):
    """HTTPS records with an ech SvcParam: among other keys, alone, made
    mandatory, and out of order."""
    def param(key, val):
        return struct.pack(">HH", key, len(val)) + val
    ech = param(5, bytes(range(40)))
    v4 = param(4, socket.inet_aton("192.0.2.42"))
    v6 = param(6, socket.inet_pton(socket.AF_INET6, "2001:db8:1::42"))
    alpn = param(1, b"\x02h2\x02h3")
    out = []
    for params in (alpn + v4 + ech + v6, ech, param(0, b"\x00\x05") + v4 + ech, v4 + ech + alpn):
        rdata = struct.pack(">H", 1) + b"\x00" + params
        out.append(hdr(0x4444, 0x8180, 1, 1) + svc + struct.pack(">HH", 65, 1) +
                   b"\xc0\x0c" + struct.pack(">HHIH", 65, 1, 60, len(rdata)) + rdata)
    return out


def answers_by_hand():
    """Shapes nsd does not give for our zone: TC=1, an answer for another
    name, address records off the chain, a hint-heavy HTTPS record."""
    def hdr(qid, flags, qd, an, ns=0, ar=0):
        return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)
    www = b"\x03www\x03lab\x04test\x00"
    a = lambda ip, ttl=300: b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, ttl, 4) + socket.inet_aton(ip)
    out = [
        hdr(0x1111, 0x8380, 1, 0) + www + struct.pack(">HH", 1, 1),  # TC
        hdr(0x1111, 0x8180, 1, 2) + www + struct.pack(">HH", 1, 1) + a("192.0.2.10") + a("192.0.2.11", 0),
        hdr(0x1111, 0x8180, 1, 1) + www + struct.pack(">HH", 1, 1) +
        b"\x04evil\x04test\x00" + struct.pack(">HHIH", 1, 1, 300, 4) + socket.inet_aton("192.0.2.99"),
        hdr(0x1111, 0x8182, 1, 0) + www + struct.pack(">HH", 1, 1),  # SERVFAIL
    ]
    hints = struct.pack(">HH", 4, 4 * 9) + b"".join(socket.inet_aton("192.0.2.%d" % i) for i in range(1, 10))
    rdata = struct.pack(">H", 1) + b"\x00" + hints
    svc = b"\x03svc\x03lab\x04test\x00"
    out.append(hdr(0x2222, 0x8180, 1, 1) + svc + struct.pack(">HH", 65, 1) +
               b"\xc0\x0c" + struct.pack(">HHIH", 65, 1, 60, len(rdata)) + rdata)
    out += ech_answers(hdr, svc)
    # inward answers (rebinding): a name without "inward", and x.apex.test,
    # which has it in the fuzz config
    aaaa = lambda ip: b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 300, 16) + socket.inet_pton(socket.AF_INET6, ip)
    for name in (www, b"\x01x\x04apex\x04test\x00"):
        out.append(hdr(0x3333, 0x8180, 1, 4) + name + struct.pack(">HH", 1, 1) + a("10.0.0.1") +
                   a("192.0.2.10") + a("192.0.2.200") + a("169.254.169.254"))
        out.append(hdr(0x3333, 0x8180, 1, 3) + name + struct.pack(">HH", 28, 1) + aaaa("fd00::1") +
                   aaaa("::ffff:10.0.0.1") + aaaa("2001:db8:1::10"))
    return out


# ------------------------------------------------------------------ gate messages

GATEIPC_VERSION = 4  # common/gateipc.h


def allow_msg(name, addrs, ttl=300, mid=7, version=GATEIPC_VERSION, typ=1, naddrs=None):
    body = struct.pack("<HHIIHH", typ, version, mid, ttl, len(addrs) if naddrs is None else naddrs, 0)
    body += name.encode().ljust(256, b"\x00")[:256]
    for a in addrs:
        if ":" in a:
            body += struct.pack("<B3x", socket.AF_INET6) + socket.inet_pton(socket.AF_INET6, a)
        else:
            body += struct.pack("<B3x", socket.AF_INET) + socket.inet_aton(a).ljust(16, b"\x00")
    return body  # only the used address slots go on the wire


def who_msgs():
    """WHO requests (UDP v4, TCP v6) and replies (found, busy)."""
    v4 = socket.inet_aton("127.0.0.1").ljust(16, b"\x00")
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::53")
    yield struct.pack("<HHIBBHHH16s16s", 3, GATEIPC_VERSION, 9, 17, socket.AF_INET, 0, 40000, 53, v4, v4)
    yield struct.pack("<HHIBBHHH16s16s", 3, GATEIPC_VERSION, 10, 6, socket.AF_INET6, 0, 1, 53, v6, v6)
    yield struct.pack("<HHIiI16s256s", 4, GATEIPC_VERSION, 9, 1234, 0, b"curl", b"/usr/bin/curl")
    yield struct.pack("<HHIiI16s256s", 4, GATEIPC_VERSION, 10, -1, 3, b"", b"")


# ------------------------------------------------------------------ packets

def csum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(proto, payload, src="198.18.0.2", dst="192.0.2.10", frag=0, opts=b""):
    ihl = 5 + len(opts) // 4
    h = struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 1, frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst)) + opts
    h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
    return h + payload


def ip6(nh, payload, src="2001:db8:ff::2", dst="2001:db8:1::10"):
    return struct.pack(">IHBB16s16s", 0x60000000, len(payload), nh, 64, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def tcp(dport, sport=40000):
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)


def udp(dport, sport=40000, data=b"x"):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def packets():
    icmp = struct.pack(">BBHHH", 8, 0, 0, 1, 1)
    return [
        (0, ip4(6, tcp(443))), (0, ip4(6, tcp(8080), dst="192.0.2.30")), (0, ip4(17, udp(443))),
        (1, ip4(17, udp(53), dst="198.51.100.53")), (2, ip4(6, tcp(443))), (4, ip4(6, tcp(22))),
        (8, ip4(1, icmp)), (0, ip4(6, tcp(443), frag=0x2001)), (0, ip4(6, tcp(443), frag=0x0010)),
        (0, ip4(6, tcp(443), opts=b"\x01\x01\x01\x00")), (0, ip4(6, tcp(443))[:22]),
        (0, ip6(6, tcp(443))), (0, ip6(17, udp(443), dst="2001:db8:1::30")), (4, ip6(58, icmp)),
        # hop-by-hop, then a fragment header (first fragment), then TCP
        (0, ip6(0, struct.pack(">BBHI", 44, 0, 0, 0) + struct.pack(">BBHI", 6, 0, 0, 1) + tcp(443))),
        (0, ip6(60, struct.pack(">BBHI", 43, 0, 0, 0) + struct.pack(">BBBBI", 6, 0, 0, 0, 0) + tcp(443))),
        (0, ip6(44, struct.pack(">BBHI", 17, 0, 8, 1) + udp(443))),  # a later fragment
        (0, ip6(51, struct.pack(">BBHI", 6, 1, 0, 0) + b"\x00" * 4 + tcp(443))),  # AH
        (0, ip6(59, b"")), (0, b"\x50" + b"\x00" * 30),
    ]


# ------------------------------------------------------------------ configs

def confs():
    out = []
    with open(os.path.join(TOP, "sandbox.ini"), "rb") as f:
        out.append(f.read())
    out.append(b"[resolver]\nlisten = 127.0.0.1:53 [::1]:53\nupstream = 198.51.100.53 [2001:db8:53::53]:5353\n"
               b"upstream_timeout = 500\ndeny = nxdomain\nmin_ttl = 1\nmax_ttl = 300\nmax_addrs = 2\n"
               b"[gate]\nmode = audit\nports = tcp/443 udp/443\non_deny = drop\nqueue = 7\n"
               b"socket = /tmp/x/gate.sock\n[log]\nfile =\nformat = json\n[allow]\n"
               b"domain = www.lab.test\ndomain = *.wild.test tcp/22\ndomain = .apex.test udp/53 tcp/1\n"
               b"network = 192.0.2.0/24 tcp/5432\nnetwork = 2001:db8::/32\n")
    out.append(b"[resolver]\nupstream = auto\nresolv_conf = /etc/resolv.conf\n[allow]\ndomain = a.test ; c\n")
    out.append(b"[resolver]\nupstream = 192.0.2.1\n[allow]\n# nothing\n[gate]\n[log]\n")
    out.append(b"[resolver]\nupstream=192.0.2.1\nuser = nobody\n\n[bogus]\n")
    return out


def quic_seeds():
    sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
    import quicraw
    out = []
    for name in ("RFC9001_CLIENT_INITIAL", "RFC9369_CLIENT_INITIAL"):
        text = open(os.path.join(TOP, "tests", "unit", "quic_rfc.h")).read()
        hexs = text.split(name + "[] =", 1)[1].split(";", 1)[0]
        out.append(b"\x01" + bytes.fromhex("".join(x.strip().strip('"') for x in hexs.split())))
    out.append(b"\x01" + quicraw.initial("good.lab.test"))
    for name in ("good.lab.test", "evil.lab.test", "-"):
        ch = quicraw.hello(name)
        one = b"\x06\x00" + struct.pack(">H", 0x4000 | len(ch)) + ch
        half = len(ch) // 2
        two = (b"\x06" + struct.pack(">HH", 0x4000 | half, 0x4000 | (len(ch) - half)) + ch[half:] +
               b"\x06\x00" + struct.pack(">H", 0x4000 | half) + ch[:half] + b"\x01\x02\x00\x00\x00\x00")
        out += [b"\xfe" + one, b"\x80" + one, b"\xfe" + two]
    return out


def main():
    if os.geteuid() != 0:
        print("mkcorpus.py: run as root (it makes the network namespace %s)" % NS, file=sys.stderr)
        return 2
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    tmp = tempfile.mkdtemp(prefix="ngfz-corpus-")
    try:
        nsexec("ip", "link", "set", "lo", "up", check=True)
        shutil.rmtree(CORPUS, ignore_errors=True)
        qs = capture_dig_queries(os.path.join(tmp))
        if len(qs) < 40:
            raise SystemExit("captured only %d dig queries" % len(qs))
        for q in qs:
            save("query", q, "dig")
        for q in odd_queries():
            save("query", q, "odd")
        ans = capture_answers(os.path.join(tmp, "ans"), qs)
        if len(ans) < 40:
            raise SystemExit("captured only %d answers" % len(ans))
        for a in ans:
            for sel in (0x80, 0x80 | 0x40, 0x80 | 0x20 | 0x10):
                save("answer", bytes([sel]) + a, "nsd")
        for a in answers_by_hand():
            save("answer", b"\x80" + a, "hand")
        for c in confs():
            save("conf", c, "ini")
        for m in (allow_msg("www.lab.test", ["192.0.2.10", "2001:db8:1::10"]),
                  allow_msg("a.b.wild.test", ["192.0.2.%d" % i for i in range(1, 40)], ttl=0),
                  allow_msg("apex.test", ["2001:db8::%x" % i for i in range(1, 256)] + ["192.0.2.1"], ttl=99999),
                  allow_msg("x.apex.test", ["192.0.2.7"], mid=0xffffffff),
                  allow_msg("blocked.lab.test", ["192.0.2.99"]),
                  allow_msg("www.lab.test", ["192.0.2.10"], version=GATEIPC_VERSION - 1),
                  allow_msg("WWW.lab.test", ["192.0.2.10"])):
            save("gateipc", m, "msg")
        save("gateipc", struct.pack("<HHIII", 2, GATEIPC_VERSION, 7, 0, 1), "ack")
        for m in who_msgs():
            save("gateipc", m, "who")
        for ctl, p in packets():
            save("packet", bytes([ctl]) + p, "pkt")
        for q in quic_seeds():
            save("quic", q, "quic")
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    for t in sorted(os.listdir(CORPUS)):
        print("%-8s %d seeds" % (t, len(os.listdir(os.path.join(CORPUS, t)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
