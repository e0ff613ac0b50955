"""Programs the SNAT lab runs inside its namespaces: `python -m tests.lab.snat_peers ...`.

server: TCP and UDP echo on one port (IPv4, or the IPv6 address given); prints one JSON
    line per flow with the peer it saw (the translated address and port: what a real
    server's log shows) and, for TCP, the first request received.
client HOST PORT N [PROTOCOLS [REQUEST]]: N TCP and N UDP flows to a server (PROTOCOLS:
    "tcp,udp", "tcp" or "udp"; TCP sends REQUEST, default "hello"); prints one JSON line per
    flow with its own (inside) address and port, and the time the flow ran.
hold: opens N TCP connections, prints them, keeps them open until stopped.
churn: short TCP connections as fast as it can for S seconds; prints the count.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

_SAYING = threading.Lock()  # the server's threads print at once: one whole line at a time


def _say(**fields) -> None:
    line = json.dumps(fields) + "\n"
    with _SAYING:
        sys.stdout.write(line)
        sys.stdout.flush()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


FIRST_WORDS_SECONDS = 1.0  # how long the server waits for a request before logging


def server(port: int, address: str = "0.0.0.0") -> None:
    tcp = socket.socket(_family(address))
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if _family(address) == socket.AF_INET6:
        tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    tcp.bind((address, port))
    tcp.listen(1024)
    udp = socket.socket(_family(address), socket.SOCK_DGRAM)
    if _family(address) == socket.AF_INET6:
        udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    udp.bind((address, port))

    def udp_loop() -> None:
        while True:
            data, peer = udp.recvfrom(2048)
            _say(proto="udp", peer=peer[0], peer_port=peer[1], at=time.time())
            udp.sendto(data, peer)

    def tcp_one(conn: socket.socket, peer) -> None:
        # One access-log line per connection, as a web server writes it: who (as seen
        # here), when it connected, and what was asked ("" for a health check's bare
        # connect, or a client that says nothing at first: `hold` keeps its connections
        # open without a word, and is logged all the same).
        at = time.time()
        with conn:
            conn.settimeout(FIRST_WORDS_SECONDS)
            try:
                data = conn.recv(2048)
            except TimeoutError:
                data = None
            except OSError:  # reset before a word (a health check's connect and close)
                data = b""
            _say(proto="tcp", peer=peer[0], peer_port=peer[1], at=at,
                 request=(data or b"").decode(errors="replace").strip())
            conn.settimeout(None)
            try:
                if data is None:
                    data = conn.recv(2048)
                while data:
                    conn.sendall(data)
                    data = conn.recv(2048)
            except OSError:
                pass  # the client reset it: nothing more to echo

    threading.Thread(target=udp_loop, daemon=True).start()
    _say(listening=port)
    while True:
        conn, peer = tcp.accept()
        threading.Thread(target=tcp_one, args=(conn, peer), daemon=True).start()


def client(host: str, port: int, count: int, protocols: str = "tcp,udp",
           request: str = "hello") -> None:
    for _ in range(count):
        if "tcp" in protocols.split(","):
            with socket.create_connection((host, port), timeout=5) as conn:
                me = conn.getsockname()
                conn.sendall(request.encode())
                conn.recv(100)
                _say(proto="tcp", inside=me[0], inside_port=me[1], at=time.time())
        if "udp" not in protocols.split(","):
            continue
        with socket.socket(_family(host), socket.SOCK_DGRAM) as udp:
            udp.settimeout(5)
            udp.connect((host, port))  # so getsockname() has the inside address
            udp.send(b"hello")
            udp.recv(100)
            me = udp.getsockname()
            _say(proto="udp", inside=me[0], inside_port=me[1], at=time.time())


def hold(host: str, port: int, count: int) -> None:
    kept = []
    for _ in range(count):
        conn = socket.create_connection((host, port), timeout=5)
        kept.append(conn)
        me = conn.getsockname()
        _say(proto="tcp", inside=me[0], inside_port=me[1], at=time.time())
    _say(held=len(kept))
    time.sleep(3600)  # until the test stops us


def churn(host: str, port: int, seconds: float) -> None:
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn = socket.socket()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST close
        try:
            conn.connect((host, port))
            done += 1
        except OSError:
            pass
        finally:
            conn.close()
    _say(connections=done)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "server":
        server(int(args[0]), *args[1:])
    elif command == "client":
        client(args[0], int(args[1]), int(args[2]), *args[3:5])
    elif command == "hold":
        hold(args[0], int(args[1]), int(args[2]))
    elif command == "churn":
        churn(args[0], int(args[1]), float(args[2]))
    else:
        raise SystemExit(f"unknown command {command}")
