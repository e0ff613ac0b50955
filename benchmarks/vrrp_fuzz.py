"""Fuzz the VRRP decoder: a million mutated packets, and not one foreign exception.

Run from the repo root: `python -m benchmarks.vrrp_fuzz [--count N] [--seed S]`.
A small fast mutator (bit flips, byte overwrites with telling values, cuts,
extensions, splices, header-field tweaks) works on valid adverts of every kind
the codec knows: v2 with each auth type, v3 over IPv4 in each checksum form,
v3 over IPv6. Half of the IPv4 mutants get a fresh, consistent IPv4 header so
that the mutations reach the VRRP checks rather than dying at the IP ones.

Prints packets/s, the outcome counts (decoded, anomalies, rejections by
reason) and every exception that is not VrrpDecodeError; exits 1 if there was
any. The reference rate is the same loop with a decoder that only slices the
bytes, so the ratio is the share of time the decoder itself costs.

`--atheris` runs the coverage-guided atheris fuzzer instead, if installed.
"""

import argparse
import random
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from lvsmon.vrrp import codec
from lvsmon.vrrp.codec import VrrpDecodeError

INTERESTING = (0x00, 0x01, 0x02, 0x03, 0x0F, 0x10, 0x20, 0x21, 0x30, 0x31, 0x33, 0x45, 0x46,
               0x4F, 0x70, 0x7F, 0x80, 112, 51, 0xE0, 0xFE, 0xFF)  # fmt: skip


def seed_packets() -> tuple[list[bytes], list[tuple[bytes, str, str]]]:
    """Valid IPv4 packets and IPv6 (payload, source, destination) triples."""
    v4 = []
    for count in (0, 1, 3, 12):
        addresses = [f"10.1.{n // 250}.{n % 250 + 1}" for n in range(count)]
        for auth, data in (("none", b""), ("simple", b"pass1234"), ("ah", b"")):
            payload = codec.encode_advert(
                version=2, vrid=51, priority=100, addresses=addresses, source="10.0.0.1",
                advert_interval_centiseconds=100, auth_type=auth, auth_data=data,
            )  # fmt: skip
            v4.append(codec.encode_ipv4_packet(payload, source="10.0.0.1"))
        for form in ("rfc5798", "no_pseudo_header", "keepalived_old_unicast"):
            payload = codec.encode_advert(
                vrid=52, priority=200, addresses=addresses, source="10.0.0.1",
                destination="10.0.0.2", checksum_form=form,
            )  # fmt: skip
            v4.append(codec.encode_ipv4_packet(payload, source="10.0.0.1", destination="10.0.0.2"))
    # keepalived's auth_type AH: IPv4 protocol 51, a 24-byte AH header, then VRRP.
    ah = bytes([112, 4, 0, 0]) + (0x100).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes(12)
    vrrp = codec.encode_advert(
        version=2, vrid=53, priority=100, addresses=["10.1.0.1"], source="10.0.0.1", auth_type="ah"
    )
    v4.append(codec.encode_ipv4_packet(ah + vrrp, source="10.0.0.1", protocol=51))
    v6 = []
    for count in (0, 1, 4):
        addresses = [f"2001:db8::{n + 1:x}" for n in range(count)]
        for destination in ("ff02::12", "fe80::2"):
            payload = codec.encode_advert(
                vrid=9, priority=100, addresses=addresses, source="fe80::1", destination=destination
            )
            v6.append((payload, "fe80::1", destination))
    return v4, v6


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(8)
        at = rng.randrange(len(out)) if out else 0
        if op == 0 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[at] = rng.choice(INTERESTING)
        elif op == 2:
            del out[rng.randrange(len(out) + 1) :]
        elif op == 3:
            out += rng.randbytes(rng.randint(1, 24))
        elif op == 4:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif op == 5:
            del out[at : at + rng.randint(1, 8)]
        elif op == 6 and len(out) > 4:
            # A 16-bit field (lengths, interval, checksum) set to an edge value.
            at = rng.randrange(len(out) - 1)
            out[at : at + 2] = rng.choice((0, 1, 0x0FFF, 0x7FFF, 0xFFFF, len(out))).to_bytes(
                2, "big"
            )
        elif op == 7:
            out = bytearray(rng.randbytes(rng.randint(0, 64)))
    return bytes(out)


def rewrap(payload: bytes, packet: bytes) -> bytes:
    """payload behind a consistent copy of packet's IPv4 header (total length fixed)."""
    header = bytearray(packet[:20])
    total = 20 + len(payload)
    if total > 0xFFFF:
        return packet
    header[2:4] = total.to_bytes(2, "big")
    return bytes(header) + payload


def fuzz(count: int, seed: int, decoders) -> tuple[float, Counter, list[str]]:
    rng = random.Random(seed)
    v4, v6 = seed_packets()
    decode4, decode6 = decoders
    outcomes: Counter = Counter()
    foreign: list[str] = []
    start = time.perf_counter()
    for n in range(count):
        pick = n % 4
        try:
            if pick == 0:
                packet = mutate(rng, rng.choice(v4))
                advert = decode4(packet)
            elif pick == 1:
                packet = rng.choice(v4)
                packet = rewrap(mutate(rng, packet[20:]), packet)
                advert = decode4(packet)
            elif pick == 2:
                payload, source, destination = rng.choice(v6)
                packet = mutate(rng, payload)
                advert = decode6(packet, source, destination, rng.choice((255, 255, 64, 0)))
            else:
                payload, source, destination = rng.choice(v6)
                packet = payload
                raw_source = mutate(rng, socket.inet_pton(socket.AF_INET6, source))
                advert = decode6(payload, raw_source, destination, 255)
        except VrrpDecodeError as err:
            outcomes[f"rejected {err.reason}"] += 1
        except Exception as err:  # anything but VrrpDecodeError: what we hunt
            outcomes["FOREIGN EXCEPTION"] += 1
            if len(foreign) < 10:
                foreign.append(f"{packet.hex()}\n{''.join(traceback.format_exception(err))}")
        else:
            if advert is None:
                outcomes["sliced"] += 1
            elif advert.anomalies:
                outcomes["decoded with " + "+".join(advert.anomalies)] += 1
            else:
                outcomes["decoded clean"] += 1
    return time.perf_counter() - start, outcomes, foreign


def slice_only4(data: bytes) -> None:
    _ = data[20:]


def slice_only6(payload: bytes, source, destination, hop_limit) -> None:
    _ = payload[8:]


def run_atheris(count: int) -> int:
    """Atheris exits the process when done: run it in a child, clean its corpus here."""
    with tempfile.TemporaryDirectory(prefix="vrrp-corpus-") as corpus:
        v4, v6 = seed_packets()
        for n, packet in enumerate(v4):
            Path(corpus, f"v4-{n}").write_bytes(b"4" + packet)
        for n, (payload, _src, _dst) in enumerate(v6):
            Path(corpus, f"v6-{n}").write_bytes(b"6" + payload)
        child = [sys.executable, "-m", "benchmarks.vrrp_fuzz", "--atheris-child", corpus]
        return subprocess.run([*child, f"--count={count}"], check=False).returncode


def atheris_child(count: int, corpus: str) -> None:
    import atheris

    atheris.instrument_all()  # the codec is imported already: instrument what is loaded

    def one_input(data: bytes) -> None:
        try:
            if data[:1] == b"6":
                codec.decode_ipv6_payload(data[1:], "fe80::1", "ff02::12", 255)
            else:
                codec.decode_ipv4_packet(data[1:])
        except VrrpDecodeError:
            pass

    atheris.Setup([sys.argv[0], f"-runs={count}", "-print_final_stats=1", corpus], one_input)
    atheris.Fuzz()  # a foreign exception is reported as a crash, with the input saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="packets to try")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, with atheris")
    parser.add_argument("--atheris-child", metavar="CORPUS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atheris_child:
        atheris_child(args.count, args.atheris_child)
    if args.atheris:
        return run_atheris(args.count)

    reference_count = max(args.count // 10, 1000)
    reference_seconds, _, _ = fuzz(reference_count, args.seed, (slice_only4, slice_only6))
    seconds, outcomes, foreign = fuzz(
        args.count, args.seed, (codec.decode_ipv4_packet, codec.decode_ipv6_payload)
    )
    rate = args.count / seconds
    reference_rate = reference_count / reference_seconds
    print(f"fuzzed {args.count:,} mutated packets in {seconds:.1f} s: {rate:,.0f} packets/s")
    print(
        f"reference (same mutator, decoder only slices the bytes): {reference_rate:,.0f} packets/s;"
        f" ratio {rate / reference_rate:.2f}x"
    )
    for outcome, n in sorted(outcomes.items(), key=lambda item: -item[1]):
        print(f"  {n:>9,}  {outcome}")
    print(f"foreign exceptions: {outcomes['FOREIGN EXCEPTION']}")
    for sample in foreign:
        print(sample)
    return 1 if foreign else 0


if __name__ == "__main__":
    sys.exit(main())
