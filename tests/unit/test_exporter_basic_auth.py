"""Basic auth against bcrypt hashes made by htpasswd (Apache's bcrypt), checked with libcrypt."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest

from lvsmon_exporter import basic_auth
from lvsmon_exporter.basic_auth import BasicAuth, bcrypt_matches, bcrypt_problem, parse_basic
from tests.exporter_support import htpasswd_hash, htpasswd_missing

pytestmark = pytest.mark.skipif(htpasswd_missing() is not None, reason=str(htpasswd_missing()))


def header(user: str | bytes, password: str | bytes) -> str:
    user = user.encode() if isinstance(user, str) else user
    password = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(user + b":" + password).decode()


@pytest.fixture(scope="module")
def hashes():
    return {"alice": htpasswd_hash("alice", "wonderland"),
            "bob": htpasswd_hash("bob", "pa:ss wörd", cost=4)}  # fmt: skip


def test_htpasswd_hashes_verify(hashes):
    assert hashes["alice"].startswith("$2y$05$")
    assert bcrypt_matches(b"wonderland", hashes["alice"])
    assert not bcrypt_matches(b"Wonderland", hashes["alice"])
    assert not bcrypt_matches(b"", hashes["alice"])
    assert bcrypt_matches("pa:ss wörd".encode(), hashes["bob"])


def test_2b_and_2a_spellings_of_the_same_hash(hashes):
    for prefix in ("$2b$", "$2a$"):
        same = prefix + hashes["alice"][4:]
        assert bcrypt_problem(same) is None
        assert bcrypt_matches(b"wonderland", same)
        assert not bcrypt_matches(b"wrong", same)


def test_a_nul_byte_never_cuts_a_password_short(hashes):
    assert not bcrypt_matches(b"wonderland\0anything", hashes["alice"])


def test_users_and_passwords(hashes):
    auth = BasicAuth(hashes)
    assert auth.check(header("alice", "wonderland"))
    assert auth.check(header("bob", "pa:ss wörd"))
    assert not auth.check(header("alice", "pa:ss wörd"))
    assert not auth.check(header("carol", "wonderland"))
    assert not auth.check(None) and not auth.check("")
    assert not auth.check("Bearer abc")
    assert not auth.check(header(b"\xff", "x"))


def test_verdicts_are_cached(hashes):
    auth = BasicAuth(hashes)
    good, bad = header("alice", "wonderland"), header("alice", "nope")
    assert auth.cached(good) is None and auth.cached(bad) is None
    assert auth.check(good) and not auth.check(bad)
    assert auth.cached(good) is True and auth.cached(bad) is False
    assert auth.cached(None) is False


def test_the_cache_is_bounded(hashes, monkeypatch):
    monkeypatch.setattr(basic_auth, "CACHE_SIZE", 3)
    auth = BasicAuth({"bob": hashes["bob"]})
    for number in range(6):
        assert not auth.check(header("bob", f"guess {number}"))
    assert auth.cached(header("bob", "guess 5")) is False
    assert auth.cached(header("bob", "guess 0")) is None  # pushed out


def test_checks_from_many_threads(hashes):
    auth = BasicAuth(hashes)
    cases = [(header("alice", "wonderland"), True), (header("alice", "x"), False),
             (header("bob", "pa:ss wörd"), True), (header("eve", "x"), False)] * 4
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda case: auth.check(case[0]), cases))
    assert verdicts == [expected for _, expected in cases]


@pytest.mark.parametrize(("value", "expected"), [
    ("Basic " + base64.b64encode(b"user:pass").decode(), ("user", b"pass")),
    ("basic  " + base64.b64encode(b"user:pa:ss").decode(), ("user", b"pa:ss")),
    ("BASIC " + base64.b64encode(b":").decode(), ("", b"")),
    ("Basic " + base64.b64encode("jörg:x".encode()).decode(), ("jörg", b"x")),
    ("Basic " + base64.b64encode(b"nocolon").decode(), None),
    ("Basic !!!notbase64", None),
    ("Basic", None),
    ("Digest abc", None),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), None),
])  # fmt: skip
def test_parse_basic(value, expected):
    assert parse_basic(value) == expected


@pytest.mark.parametrize(("hashed", "words"), [
    ("$2y$10$" + "a" * 53, None),
    ("$2y$04$" + "a" * 53, None),
    ("$2y$31$" + "a" * 53, None),
    ("$2y$03$" + "a" * 53, "cost 3 out of range"),
    ("$2y$10$" + "a" * 52, "not a bcrypt hash"),
    ("$2x$10$" + "a" * 53, "not a bcrypt hash"),
    ("$1$salt$hash", "not a bcrypt hash"),
    ("$2y$10$" + "a" * 52 + "!", "not a bcrypt hash"),
])  # fmt: skip
def test_bcrypt_problem(hashed, words):
    problem = bcrypt_problem(hashed)
    assert (problem is None) if words is None else (words in problem)
