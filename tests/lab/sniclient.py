"""The agent's side of the SNI / Host binding tests (tests_sni.py).

  sniclient.py tls HOST PORT SNI|- [--split N] [--bytes N] [--wait-file F] [--timeout S]
  sniclient.py raw HOST PORT TEXT [--split N] [--timeout S]

tls: a real TLS handshake through a memory BIO, so the ClientHello can be
written in N pieces (TCP_NODELAY, a pause between), the SNI in the last;
then reads the server's "name=" line, asks for --bytes and reads them.
--wait-file: connect, then wait for F to exist before the first byte (the
test kills the gate meanwhile). raw: sends TEXT (\\r\\n escapes) and reads
what comes back. Prints one JSON line: outcome connected|reset|timeout|
refused|error, the name the server saw, bytes read, ms."""
import argparse
import errno
import json
import os
import socket
import ssl
import time


def pieces(data, n):
    if n <= 1:
        return [data]
    # the last piece carries the end of the hello, where the SNI is
    cut = [len(data) * i // n for i in range(n)] + [len(data)]
    return [data[cut[i]:cut[i + 1]] for i in range(n)]


def send_split(s, data, n):
    for i, p in enumerate(pieces(data, n)):
        if i:
            time.sleep(0.05)
        s.sendall(p)


def tls(a, s, res, dest=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname=None if a.arg == "-" else a.arg)
    first = True
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        out = outg.read()
        if out:
            if first and dest is not None:
                # the hello in the SYN (blocking: without a cookie yet the
                # kernel connects first and sends it after)
                t = s.gettimeout()
                s.settimeout(None)
                s.sendto(out, socket.MSG_FASTOPEN, dest)
                s.settimeout(t)
                first = False
            elif first:
                send_split(s, out, a.split)
                first = False
            else:
                s.sendall(out)
        if done:
            break
        b = s.recv(65536)
        if not b:
            raise ConnectionResetError(errno.ECONNRESET, "closed in the handshake")
        inc.write(b)

    def read_some():
        while True:
            try:
                return obj.read(65536)
            except ssl.SSLWantReadError:
                b = s.recv(65536)
                if not b:
                    return b""
                inc.write(b)

    line = b""
    while not line.endswith(b"\n"):
        b = read_some()
        if not b:
            break
        line += b
    res["name"] = line.decode(errors="replace").strip().partition("=")[2]
    obj.write(b"%d\n" % a.bytes)
    s.sendall(outg.read())
    got = 0
    t0 = time.monotonic()
    while got < a.bytes:
        b = read_some()
        if not b:
            break
        got += len(b)
    res["bytes"] = got
    res["xfer_ms"] = round((time.monotonic() - t0) * 1000, 1)


def raw(a, s, res):
    data = a.arg.encode().decode("unicode_escape").encode("latin-1")
    send_split(s, data, a.split)
    got = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        got += b
    res["reply"] = got.decode(errors="replace")
    if not got:
        raise ConnectionResetError(errno.ECONNRESET, "closed without a reply")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["tls", "raw"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("arg")
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--bytes", type=int, default=0)
    p.add_argument("--wait-file")
    p.add_argument("--timeout", type=float, default=3)
    p.add_argument("--fastopen", action="store_true",
                   help="TCP Fast Open: one connection to get the cookie, then the hello in the SYN")
    a = p.parse_args()
    res = {"outcome": "connected"}
    t0 = time.monotonic()
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(a.timeout)
    try:
        if a.fastopen:
            prime = socket.socket(fam, socket.SOCK_STREAM)
            prime.settimeout(a.timeout)
            try:
                tls(a, prime, {}, (a.host, a.port))
            except (OSError, ssl.SSLError):
                pass
            prime.close()
            tls(a, s, res, (a.host, a.port))
            raise StopIteration
        s.connect((a.host, a.port))
        if a.wait_file:
            while not os.path.exists(a.wait_file):
                time.sleep(0.02)
        (tls if a.mode == "tls" else raw)(a, s, res)
    except StopIteration:
        pass
    except socket.timeout:
        res["outcome"] = "timeout"
    except ConnectionRefusedError:
        res["outcome"] = "refused"
    except ConnectionResetError:
        res["outcome"] = "reset"
    except (OSError, ssl.SSLError) as e:
        res["outcome"] = "error"
        res["error"] = str(e)
    res["ms"] = round((time.monotonic() - t0) * 1000, 1)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
