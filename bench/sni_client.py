"""The client side of bench/sni.py: N TLS connections one after the other
to HOST:PORT with SNI NAME (a real ClientHello via a memory BIO), each
until the server's first flight has come back (the handshake is done), then
a reset close. Prints JSON: conn/s, and the first-flight latency (hello
written → server's flight read) p50/p99 in microseconds."""
import json
import socket
import ssl
import struct
import sys
import time


def one(ctx, host, port, name):
    s = socket.create_connection((host, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outg.read()
    t0 = time.perf_counter()
    s.sendall(hello)
    while True:
        b = s.recv(65536)
        if not b:
            raise OSError("closed")
        inc.write(b)
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            continue
    dt = time.perf_counter() - t0
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return dt


def main():
    host, port, name, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    lat, fails = [], 0
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            lat.append(one(ctx, host, port, name))
        except OSError:
            fails += 1
    wall = time.perf_counter() - t0
    lat.sort()
    q = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6, 1)) if lat else (lambda p: None)
    print(json.dumps({"n": n, "ok": len(lat), "fails": fails, "conn_s": round(len(lat) / wall, 1),
                      "p50_us": q(0.5), "p99_us": q(0.99)}))


if __name__ == "__main__":
    main()
