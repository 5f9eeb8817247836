"""TLS and HTTP servers for the SNI / Host binding tests (tests_sni.py), run
in the lab's internet namespace on every address (v4 and v6).

  sniserver.py DIR TLSPORT HTTPPORT NAME...

Makes a self-signed certificate for each NAME in DIR (openssl), serves TLS on
TLSPORT choosing the certificate by SNI (a client without SNI or with an
unknown name gets the first), and after the handshake writes
"name=<SNI or ->\\n", then reads a line with a byte count and sends that many
bytes. On HTTPPORT it answers each request with "host=<Host header>\\n"."""
import os
import socket
import ssl
import subprocess
import sys
import threading


def make_cert(d, name):
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:" + name], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


def listeners(port):
    out = []
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 64)  # for 109.sni.fastopen
        s.listen(128)
        out.append(s)
    return out


def readline(c, limit=256):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        b = c.recv(1)
        if not b:
            break
        buf += b
    return buf


def serve_tls(conn, ctxs, default):
    seen = ["-"]

    def pick(sslobj, name, ctx):
        seen[0] = name or "-"
        if name in ctxs:
            sslobj.context = ctxs[name]

    default.sni_callback = pick
    try:
        conn.settimeout(10)
        c = default.wrap_socket(conn, server_side=True)
        c.sendall(("name=%s\n" % seen[0]).encode())
        n = int(readline(c).strip() or b"0")
        chunk = b"x" * 65536
        while n > 0:
            k = min(n, len(chunk))
            c.sendall(chunk[:k])
            n -= k
        c.close()
    except (OSError, ValueError, ssl.SSLError):
        conn.close()


def serve_http(conn):
    try:
        conn.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf and len(buf) < 65536:
            b = conn.recv(4096)
            if not b:
                break
            buf += b
        host = "-"
        for ln in buf.split(b"\r\n")[1:]:
            if ln.lower().startswith(b"host:"):
                host = ln[5:].strip().decode(errors="replace")
        conn.sendall(("HTTP/1.0 200 OK\r\n\r\nhost=%s\n" % host).encode())
    except OSError:
        pass
    conn.close()


def accept_loop(s, fn, *args):
    while True:
        c, _ = s.accept()
        threading.Thread(target=fn, args=(c,) + args, daemon=True).start()


def main():
    d, tport, hport, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    ctxs = {n: make_cert(d, n) for n in names}
    default = make_cert(d, names[0])
    for s in listeners(tport):
        threading.Thread(target=accept_loop, args=(s, serve_tls, ctxs, default), daemon=True).start()
    for s in listeners(hport):
        threading.Thread(target=accept_loop, args=(s, serve_http), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
