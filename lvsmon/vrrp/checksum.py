"""The Internet checksum (RFC 1071) and the pseudo-headers VRRP puts under it.

Python is slow at adding 16-bit words one by one, so the sum is taken as one
big integer modulo 0xFFFF: since 2**16 == 1 (mod 0xFFFF), a big-endian number
is congruent to the sum of its 16-bit words, which is what the one's
complement sum is, up to the two spellings of zero (0x0000 and 0xFFFF).
"""

import struct

IPPROTO_VRRP = 112

_PSEUDO4 = struct.Struct("!4s4sxBH")  # source, destination, zero, protocol, length
_PSEUDO6 = struct.Struct("!16s16sI3xB")  # source, destination, length, zeros, next header


def _residue(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    return int.from_bytes(data, "big") % 0xFFFF


def verifies(data: bytes, pseudo_header: bytes = b"") -> bool:
    """True when the checksum field inside ``data`` is right for data + pseudo-header.

    A correct message sums to 0xFFFF (negative zero). Messages here always have
    a non-zero version byte, so the all-zero sum (positive zero) cannot occur.
    """
    return (_residue(pseudo_header) + _residue(data)) % 0xFFFF == 0


def compute(data: bytes, pseudo_header: bytes = b"") -> int:
    """The checksum to write into ``data``, whose checksum field must be zero."""
    residue = (_residue(pseudo_header) + _residue(data)) % 0xFFFF
    # RFC 1071 folding yields 0xFFFF for a sum that is 0 mod 0xFFFF: its complement is 0.
    return 0xFFFF - residue if residue else 0


def pseudo_header4(source: bytes, destination: bytes, length: int) -> bytes:
    """IPv4 pseudo-header as in RFC 5798 section 5.2.8 (the TCP/UDP one, protocol 112)."""
    return _PSEUDO4.pack(source, destination, IPPROTO_VRRP, length)


def pseudo_header6(source: bytes, destination: bytes, length: int) -> bytes:
    """IPv6 pseudo-header as in RFC 8200 section 8.1, next header 112."""
    return _PSEUDO6.pack(source, destination, length, IPPROTO_VRRP)
