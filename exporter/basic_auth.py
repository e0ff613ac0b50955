"""HTTP basic authentication against bcrypt hashes, as the Prometheus exporter toolkit does.

    auth = BasicAuth({"prometheus": "$2y$10$..."})
    auth.cached(header)    True / False when this Authorization value was checked before, else
                           None (cheap: call it on the event loop)
    auth.check(header)     runs bcrypt when needed (tens of milliseconds at cost 10 by design:
                           call it in a worker thread)

bcrypt comes from the system's libcrypt (libxcrypt, libcrypt.so.1 on Debian and RHEL, which
verifies $2y$, $2b$ and $2a$ hashes) through ctypes, so there is no new dependency; Python's
`crypt` module is deprecated and gone in 3.13. Like the toolkit, every verdict is cached
(bounded), bcrypt runs one at a time, and an unknown user costs the same bcrypt as a known
one, so response times do not reveal which users exist.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import functools
import hashlib
import hmac
import re
import threading
from collections.abc import Mapping

BCRYPT_HASH = re.compile(r"\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}\Z")
MIN_COST, MAX_COST = 4, 31
LIBCRYPT = "libcrypt.so.1"
CACHE_SIZE = 1024
_CRYPT_DATA_SIZE = 32768  # sizeof(struct crypt_data) in libxcrypt
_GLIBC_CRYPT_DATA_SIZE = 256 * 1024  # more than glibc's old struct crypt_data needs
_PROBE_SETTING = b"$2b$04$" + b"." * 22  # a valid bcrypt salt, cheapest cost


class BcryptUnavailable(Exception):
    """This system's libcrypt cannot verify bcrypt hashes."""


def bcrypt_problem(hashed: str) -> str | None:
    """Why `hashed` is not a bcrypt hash lvsmon can check, or None."""
    match = BCRYPT_HASH.match(hashed)
    if match is None:
        return ("not a bcrypt hash ($2y$, $2b$ or $2a$, cost, 53 characters of salt and hash; "
                "make one with `htpasswd -nBC 10 USER`)")
    cost = int(match["cost"])
    if not MIN_COST <= cost <= MAX_COST:
        return f"bcrypt cost {cost} out of range {MIN_COST}..{MAX_COST}"
    return None


def bcrypt_matches(password: bytes, hashed: str) -> bool:
    """True if `password` hashes to `hashed`. Slow on purpose: call it off the event loop."""
    if b"\0" in password:  # C strings would end there: never let a suffix be ignored
        return False
    result = _crypt()(password, hashed.encode("ascii"))
    return result is not None and hmac.compare_digest(result, hashed.encode("ascii"))


@functools.cache
def _crypt():
    """crypt(password, setting) -> bytes or None, from libcrypt; raises BcryptUnavailable."""
    try:
        library = ctypes.CDLL(LIBCRYPT)
    except OSError as exc:
        raise BcryptUnavailable(f"cannot load {LIBCRYPT} ({exc})") from None
    if hasattr(library, "crypt_rn"):  # libxcrypt: the caller says how big its buffer is
        function, size = library.crypt_rn, _CRYPT_DATA_SIZE
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    else:
        function, size = library.crypt_r, _GLIBC_CRYPT_DATA_SIZE
        function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
    function.restype = ctypes.c_char_p

    def crypt(password: bytes, setting: bytes) -> bytes | None:
        data = ctypes.create_string_buffer(size)  # zeroed: a fresh state per call
        args = (password, setting, data, size) if function is library.crypt_rn else (
            password, setting, data)
        result = function(*args)  # ctypes releases the GIL during the call
        if not result or result.startswith(b"*"):
            return None
        return result

    probe = crypt(b"probe", _PROBE_SETTING)
    if probe is None or not probe.startswith(_PROBE_SETTING):
        raise BcryptUnavailable(f"{LIBCRYPT} does not support bcrypt ($2b$)")
    return crypt


def check_bcrypt_available() -> None:
    """Raises BcryptUnavailable (with the reason) unless bcrypt hashes can be verified."""
    _crypt()


class BasicAuth:
    """Checks Authorization header values against user -> bcrypt hash."""

    def __init__(self, users: Mapping[str, str]):
        self.users = dict(users)
        # An unknown user is checked against a real hash of the same cost, then refused.
        self._decoy = next(iter(self.users.values()), None)
        self._verdicts: dict[bytes, bool] = {}
        self._bcrypt_lock = threading.Lock()

    def cached(self, header: str | None) -> bool | None:
        if not header:
            return False
        return self._verdicts.get(_cache_key(header))

    def check(self, header: str | None) -> bool:
        if not header:
            return False
        key = _cache_key(header)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            return verdict
        with self._bcrypt_lock:  # bcrypt is CPU-heavy: one at a time, like the toolkit
            verdict = self._verdicts.get(key)  # another thread may have just checked it
            if verdict is None:
                verdict = self._verify(header)
                if len(self._verdicts) >= CACHE_SIZE:
                    self._verdicts.pop(next(iter(self._verdicts)))
                self._verdicts[key] = verdict
        return verdict

    def _verify(self, header: str) -> bool:
        credentials = parse_basic(header)
        if credentials is None or self._decoy is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        if hashed is None:
            bcrypt_matches(password, self._decoy)
            return False
        return bcrypt_matches(password, hashed)


def parse_basic(header: str) -> tuple[str, bytes] | None:
    """'Basic dXNlcjpwYXNz' -> ("user", b"pass"), or None if it is not basic credentials."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


def _cache_key(header: str) -> bytes:
    # A digest, so the cache holds no password in clear.
    return hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
