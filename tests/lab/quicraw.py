"""A hand-made QUIC client for what gtlsclient will not do (tests_quic.py):
client Initial packets sealed as RFC 9001 5 says (python cryptography),
each carrying a ClientHello for a chosen name ("-": no server_name), sent from one UDP socket.

  quicraw.py HOST PORT NAME [NAME...] [--timeout S]

For each NAME, in turn, a new connection (a fresh Destination Connection ID)
on the same socket, so on the same addresses and ports: one Initial of 1200
bytes, then it waits for the server's answer. Prints one JSON line: a list
of {"name", "outcome"} with outcome "answered" (the server sent a datagram
back: it read the hello), "refused" (an ICMP error came back) or "timeout".
"""
import json
import os
import socket
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives import hmac

SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def hkdf_extract(salt, ikm):
    h = hmac.HMAC(salt, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def expand_label(secret, label, n):
    full = b"tls13 " + label
    info = struct.pack(">HB", n, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), n, info).derive(secret)


def client_keys(dcid):
    client = expand_label(hkdf_extract(SALT_V1, dcid), b"client in", 32)
    return (expand_label(client, b"quic key", 16), expand_label(client, b"quic iv", 12),
            expand_label(client, b"quic hp", 16))


def hello(name):
    """A TLS 1.3 ClientHello with server_name, key_share, supported_versions
    and QUIC transport parameters: enough for a server to read and answer."""
    def ext(t, body):
        return struct.pack(">HH", t, len(body)) + body
    n = name.encode()
    exts = b"" if name == "-" else ext(0, struct.pack(">HBH", len(n) + 3, 0, len(n)) + n)
    exts += ext(10, struct.pack(">HH", 2, 0x001d))                      # supported_groups: x25519
    exts += ext(13, struct.pack(">HH", 2, 0x0403))                      # signature_algorithms
    exts += ext(16, b"\x00\x03\x02h3")                                  # ALPN
    exts += ext(43, b"\x02\x03\x04")                                    # supported_versions: 1.3
    exts += ext(51, struct.pack(">HHH", 36, 0x001d, 32) + os.urandom(32))  # key_share
    exts += ext(57, b"\x04\x04\x80\x10\x00\x00\x0f\x00")                 # quic_transport_parameters
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += struct.pack(">H", len(exts)) + exts
    return b"\x01" + struct.pack(">I", len(body))[1:] + body


def initial(name):
    dcid, scid = os.urandom(8), os.urandom(8)
    key, iv, hp = client_keys(dcid)
    ch = hello(name)
    frames = b"\x06\x00" + struct.pack(">H", 0x4000 | len(ch)) + ch
    head = b"\xc3" + struct.pack(">I", 1) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"\x00"
    plen = 1200 - len(head) - 2 - 4 - 16
    frames += b"\x00" * (plen - len(frames))
    head += struct.pack(">H", 0x4000 | (4 + plen + 16))
    pn_off = len(head)
    head += struct.pack(">I", 0)
    ct = AESGCM(key).encrypt(iv, frames, head)  # packet number 0: the nonce is the IV
    pkt = bytearray(head + ct)
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(bytes(pkt[pn_off + 4:pn_off + 20])) + enc.finalize()
    pkt[0] ^= mask[0] & 0x0f
    for i in range(4):
        pkt[pn_off + i] ^= mask[1 + i]
    return bytes(pkt)


def main():
    args = sys.argv[1:]
    timeout = 2.0
    if "--timeout" in args:
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i:i + 2]
    host, port, names = args[0], int(args[1]), args[2:]
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((host, port))
    s.settimeout(timeout)
    out = []
    for name in names:
        try:
            s.send(initial(name))
            s.recv(65536)
            outcome = "answered"
        except socket.timeout:
            outcome = "timeout"
        except OSError:
            outcome = "refused"
        out.append({"name": name, "outcome": outcome})
        # drain what else the server sends for this connection
        s.settimeout(0.3)
        try:
            while True:
                s.recv(65536)
        except OSError:
            pass
        s.settimeout(timeout)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
