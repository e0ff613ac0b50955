"""The programs at both ends of the guest topology's traffic (run with `python -S peers.py`).

    peers.py serve NAME TCP_PORT UDP_PORT   a real server: answers TCP and UDP on IPv4 and IPv6
    peers.py connect HOST PORT COUNT        COUNT TCP requests; prints {"server": answers} JSON
    peers.py udp HOST PORT COUNT            the same over UDP
    peers.py stream HOST PORT SECONDS RATE  TCP requests for SECONDS, at most RATE per second
                                            (failed ones counted as "failed")
    peers.py hold HOST PORT                 one TCP connection kept open until SIGTERM;
                                            prints the name of the server that took it

Protocol: the client sends one line. "HOLD" makes the server answer "<name>" and keep
the connection open until the client closes it; anything else gets "<name>" and a close.
Standard library only and no site packages, so it starts fast under TCG.
"""

import json
import signal
import socket
import sys
import threading
import time


def serve(name: str, tcp_port: int, udp_port: int) -> None:
    answer = f"{name}\n".encode()

    def handle(conn: socket.socket) -> None:
        with conn:
            request = conn.makefile("rb").readline()
            conn.sendall(answer)
            if request.strip() == b"HOLD":
                while conn.recv(4096):  # until the client closes its end
                    pass

    def tcp_loop(sock: socket.socket) -> None:
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def udp_loop(sock: socket.socket) -> None:
        while True:
            _, peer = sock.recvfrom(2048)
            sock.sendto(answer, peer)

    loops = []
    for kind, port, loop in ((socket.SOCK_STREAM, tcp_port, tcp_loop),
                             (socket.SOCK_DGRAM, udp_port, udp_loop)):
        sock = socket.socket(socket.AF_INET6, kind)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # IPv4 too
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        loops.append(threading.Thread(target=loop, args=(sock,), daemon=True))
    for thread in loops:
        thread.start()
    print(f"{name} ready tcp {tcp_port} udp {udp_port}", flush=True)
    for thread in loops:
        thread.join()  # forever; SIGTERM ends the process


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _request(host: str, port: int) -> str:
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((host, port))
        sock.sendall(b"GET\n")
        return sock.makefile("rb").readline().decode().strip()


def connect(host: str, port: int, count: int) -> None:
    seen: dict[str, int] = {}
    for _ in range(count):
        name = _request(host, port)
        seen[name] = seen.get(name, 0) + 1
    print(json.dumps(seen), flush=True)


def stream(host: str, port: int, seconds: float, rate: float) -> None:
    seen: dict[str, int] = {}
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) < start + seconds:
        # Paced, not flat out: under TCG a busy loop would starve the programs we watch.
        time.sleep(max(0.0, start + sent / rate - now))
        try:
            name = _request(host, port)
        except OSError:  # counted, not fatal: a stream runs on through a failover
            name = "failed"
        seen[name] = seen.get(name, 0) + 1
        sent += 1
    print(json.dumps(seen), flush=True)


def udp(host: str, port: int, count: int) -> None:
    seen: dict[str, int] = {}
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect((host, port))
        for _ in range(count):
            sock.send(b"GET\n")
            name = sock.recv(2048).decode().strip()
            seen[name] = seen.get(name, 0) + 1
    print(json.dumps(seen), flush=True)


def hold(host: str, port: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit closes the socket: FIN
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(b"HOLD\n")
    name = sock.makefile("rb").readline().decode().strip()
    print(f"held by {name}", flush=True)
    while True:
        time.sleep(3600)


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "serve":
        serve(args[0], int(args[1]), int(args[2]))
    elif command == "connect":
        connect(args[0], int(args[1]), int(args[2]))
    elif command == "stream":
        stream(args[0], int(args[1]), float(args[2]), float(args[3]))
    elif command == "udp":
        udp(args[0], int(args[1]), int(args[2]))
    elif command == "hold":
        hold(args[0], int(args[1]))
    else:
        sys.exit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
