"""The web-config loader: every key it reads, and every problem named with file, line and key."""

from __future__ import annotations

import dataclasses
import os
import ssl
import subprocess
from pathlib import Path

import pytest

from lvsmon.errors import LvsmonError, WebConfigError
from lvsmon_exporter.web_config import PLAIN_HTTP, WebConfig, load_web_config
from tests.exporter_support import make_certs

HASH = "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"  # any well-formed hash
HASH_B = "$2b$12$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def write(tmp_path: Path, text: str, name: str = "web.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path) -> tuple[str, ...]:
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    return caught.value.problems


def only_problem(path: Path) -> str:
    found = problems(path)
    assert len(found) == 1, found
    return found[0]


def tls_file(tmp_path: Path, certs, extra: str = "", **files: str) -> Path:
    names = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key), **files}
    body = "".join(f"  {key}: {value}\n" for key, value in names.items() if value is not None)
    return write(tmp_path, "tls_server_config:\n" + body + extra)


# -- what is accepted ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "# nothing here\n", "---\n", "tls_server_config:\n",
                                  "tls_server_config: {}\nbasic_auth_users:\n"])
def test_an_empty_file_means_plain_http_without_auth(tmp_path, text):
    config = load_web_config(write(tmp_path, text))
    assert config.tls is None and config.users == () and not config.auth_required
    assert config.path == str(tmp_path / "web.yml")


def test_the_default_is_plain_http():
    assert PLAIN_HTTP.tls is None and PLAIN_HTTP.users == () and PLAIN_HTTP.headers == ()


def test_every_key(tmp_path, certs):
    path = write(tmp_path, f"""\
tls_server_config:
  cert_file: {certs.server_cert}
  key_file: {certs.server_key}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: {certs.ca}
  min_version: TLS13
  max_version: TLS13
  prefer_server_cipher_suites: false
http_server_config:
  http2: true
  headers:
    Strict-Transport-Security: max-age=31536000
    X-Content-Type-Options: nosniff
    X-Frame-Options: sameorigin
    X-XSS-Protection: "1; mode=block"
    Content-Security-Policy: default-src 'self'
basic_auth_users:
  prometheus: {HASH}
  grafana: '{HASH_B}'
basic_auth_excluded_paths: [/-/healthy]
""")
    config = load_web_config(path)
    tls = config.tls
    assert (tls.cert_file, tls.key_file, tls.client_ca_file) == (
        str(certs.server_cert), str(certs.server_key), str(certs.ca))
    assert (tls.client_auth_type, tls.min_version, tls.max_version) == (
        "RequireAndVerifyClientCert", "TLS13", "TLS13")
    assert tls.prefer_server_cipher_suites is False
    context = tls.context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.maximum_version == ssl.TLSVersion.TLSv1_3
    assert not context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert context.options & ssl.OP_NO_RENEGOTIATION
    assert context.cert_store_stats()["x509_ca"] == 1
    assert config.headers == (
        ("Strict-Transport-Security", "max-age=31536000"), ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "sameorigin"), ("X-XSS-Protection", "1; mode=block"),
        ("Content-Security-Policy", "default-src 'self'"))  # fmt: skip
    assert config.users == (("prometheus", HASH), ("grafana", HASH_B))
    assert config.auth_excluded_paths == ("/-/healthy",)
    assert config.auth_required


def test_the_value_is_immutable_and_compares_by_settings(tmp_path, certs):
    path = tls_file(tmp_path, certs)
    first, second = load_web_config(path), load_web_config(path)
    assert first == second and first.tls.context is not second.tls.context
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.users = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.tls.cert_file = "other"  # type: ignore[misc]


def test_defaults_and_paths_relative_to_the_file(tmp_path, certs):
    folder = tmp_path / "etc"
    folder.mkdir()
    for source in (certs.server_cert, certs.server_key):
        (folder / source.name).write_bytes(source.read_bytes())
    config = load_web_config(write(folder, "tls_server_config:\n  cert_file: server.crt\n"
                                           "  key_file: server.key\n"))  # fmt: skip
    assert config.tls.cert_file == str(folder / "server.crt")
    assert (config.tls.client_auth_type, config.tls.min_version, config.tls.max_version) == (
        "NoClientCert", "TLS12", "TLS13")
    assert config.tls.prefer_server_cipher_suites is True
    assert config.tls.context.verify_mode == ssl.CERT_NONE
    assert config.tls.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert config.tls.context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


@pytest.mark.parametrize(("auth", "mode", "with_ca"), [
    ("NoClientCert", ssl.CERT_NONE, False),
    ("RequestClientCert", ssl.CERT_NONE, False),
    ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL, True),
    ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED, True),
])  # fmt: skip
def test_client_auth_types(tmp_path, certs, auth, mode, with_ca):
    path = tls_file(tmp_path, certs, client_auth_type=auth,
                    client_ca_file=str(certs.ca) if with_ca else None)
    assert load_web_config(path).tls.context.verify_mode == mode


@pytest.mark.parametrize("version", ["TLS12", "TLS13"])
def test_min_versions(tmp_path, certs, version):
    assert load_web_config(tls_file(tmp_path, certs, min_version=version)).tls.min_version \
        == version


# -- what is refused -------------------------------------------------------------------------


def test_the_error_is_a_usage_error_naming_the_file(tmp_path):
    path = tmp_path / "missing.yml"
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    error = caught.value
    assert isinstance(error, LvsmonError) and error.exit_code == 2
    assert error.problems == (f"{path}: no such file",)
    assert str(path) in str(error)


def test_unreadable_files(tmp_path):
    assert only_problem(tmp_path) == f"{tmp_path}: is a directory, not a file"
    assert "cannot read it" in only_problem(Path("/proc/self/mem"))
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"a: 1\nb: \xff\n")
    assert only_problem(binary) == f"{binary}:2: not UTF-8 text"
    large = tmp_path / "large.yml"
    large.write_bytes(b"#" * (1024 * 1024 + 1))
    assert "larger than" in only_problem(large)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission(tmp_path):
    path = write(tmp_path, "")
    path.chmod(0)
    assert "permission denied" in only_problem(path)


def test_bad_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "basic_auth_users:\n  a: 1\n  a: 2\n")
    assert only_problem(path) == f"{path}:3: duplicate key 'a' (first on line 2)"


@pytest.mark.parametrize(("text", "expected"), [
    ("- a\n", ":1: expected keys such as tls_server_config"),
    ("just text\n", ":1: expected 'key: value'"),
    ("tls_config:\n", ":1: tls_config: unknown key (known here: tls_server_config, "
                      "http_server_config, basic_auth_users, basic_auth_excluded_paths)"),
    ("rate_limit:\n  interval: 1s\n", ":1: rate_limit: rate limiting is not supported"),
    ("tls_server_config: yes\n", ":1: tls_server_config: expected keys below it"),
    ("tls_server_config: [a]\n", ":1: tls_server_config: expected keys below it"),
    ("http_server_config:\n  http3: true\n", ":2: http_server_config.http3: unknown key "
                                             "(known here: headers, http2)"),
    ("http_server_config:\n  http2: yes\n", ":2: http_server_config.http2: expected true or "
                                            "false"),
    ("http_server_config:\n  http2: 'true'\n", ":2: http_server_config.http2: expected true"),
    ("http_server_config:\n  headers: [a]\n", ":2: http_server_config.headers: expected keys"),
    ("http_server_config:\n  headers:\n    Server: lvsmon\n",
     ":3: http_server_config.headers.Server: this header cannot be set"),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
     ":3: http_server_config.headers.X-Frame-Options: unknown value 'allow': one of deny, "
     "sameorigin"),
    ("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
     ":3: http_server_config.headers.X-Content-Type-Options: unknown value 'sniff'"),
    ("http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\n\"\n",
     ":3: http_server_config.headers.X-XSS-Protection: control characters are not allowed"),
    ("http_server_config:\n  headers:\n    X-XSS-Protection:\n",
     ":3: http_server_config.headers.X-XSS-Protection: expected a value"),
    ("basic_auth_users: [a]\n", ":1: basic_auth_users: expected keys below it"),
    ("basic_auth_users:\n  alice: secret\n", ":2: basic_auth_users.alice: not a bcrypt hash"),
    ("basic_auth_users:\n  alice:\n", ":2: basic_auth_users.alice: expected a value"),
    ("basic_auth_users:\n  alice: [a]\n", ":2: basic_auth_users.alice: expected a value"),
    (f"basic_auth_users:\n  alice: {HASH[:-1]}\n", ":2: basic_auth_users.alice: not a bcrypt"),
    (f"basic_auth_users:\n  alice: {HASH.replace('$2y$', '$2x$')}\n",
     ":2: basic_auth_users.alice: not a bcrypt hash"),
    (f"basic_auth_users:\n  alice: {HASH.replace('$10$', '$03$')}\n",
     ":2: basic_auth_users.alice: bcrypt cost 3 out of range 4..31"),
    (f"basic_auth_users:\n  alice: {HASH.replace('$10$', '$32$')}\n",
     ":2: basic_auth_users.alice: bcrypt cost 32 out of range 4..31"),
    (f"basic_auth_users:\n  'a:b': {HASH}\n", ":2: basic_auth_users.a:b: a user name must not"),
    (f"basic_auth_users:\n  '': {HASH}\n", ":2: basic_auth_users.: a user name must not be empty"),
    ("basic_auth_excluded_paths: /-/healthy\n", ":1: basic_auth_excluded_paths: expected a list"),
    ("basic_auth_excluded_paths:\n- healthy\n", ":2: basic_auth_excluded_paths: 'healthy' is not "
                                                "a path"),
    ("basic_auth_excluded_paths:\n- [a]\n", ":2: basic_auth_excluded_paths: expected a value"),
])  # fmt: skip
def test_structure_and_value_problems(tmp_path, text, expected):
    path = write(tmp_path, text)
    found = only_problem(path)
    assert found.startswith(str(path) + expected), found


@pytest.mark.parametrize(("key", "words"), [
    ("cert", "inline certificates are not supported"),
    ("key", "inline keys are not supported"),
    ("client_ca", "inline client CAs are not supported"),
    ("cipher_suites", "choosing cipher suites is not supported"),
    ("curve_preferences", "choosing curves is not supported"),
    ("client_allowed_sans", "checking client certificate SANs is not supported"),
    ("ca_file", "unknown key (known here: cert_file, key_file"),
])  # fmt: skip
def test_toolkit_keys_lvsmon_does_not_serve(tmp_path, certs, key, words):
    path = tls_file(tmp_path, certs, extra=f"  {key}: x\n")
    found = only_problem(path)
    assert found.startswith(f"{path}:4: tls_server_config.{key}: {words}"), found


@pytest.mark.parametrize(("files", "extra", "expected"), [
    ({"cert_file": None}, "", ":1: tls_server_config.cert_file: missing (needed for TLS)"),
    ({"key_file": None}, "", ":1: tls_server_config.key_file: missing (needed for TLS)"),
    ({"cert_file": "''"}, "", ":2: tls_server_config.cert_file: "),
    ({"cert_file": "~"}, "", ":2: tls_server_config.cert_file: expected a value"),
    ({}, "  client_auth_type: Whatever\n",
     ":4: tls_server_config.client_auth_type: unknown value 'Whatever': one of NoClientCert, "
     "RequestClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
    ({}, "  client_auth_type: RequireAnyClientCert\n",
     ":4: tls_server_config.client_auth_type: RequireAnyClientCert (any certificate, not "
     "checked) cannot be served by lvsmon: use RequireAndVerifyClientCert with client_ca_file"),
    ({}, "  client_auth_type: RequireClientCert\n",
     ":4: tls_server_config.client_auth_type: RequireClientCert (the toolkit's old name"),
    ({}, "  client_auth_type: RequireAndVerifyClientCert\n",
     ":4: tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file"),
    ({}, "  client_auth_type: VerifyClientCertIfGiven\n",
     ":4: tls_server_config.client_auth_type: VerifyClientCertIfGiven needs client_ca_file"),
    ({}, "  min_version: TLS14\n",
     ":4: tls_server_config.min_version: unknown value 'TLS14': one of TLS12, TLS13"),
    ({}, "  min_version: TLS10\n",
     ":4: tls_server_config.min_version: TLS10 is not supported (TLS 1.0 and 1.1 are "
     "deprecated): use TLS12 or TLS13"),
    ({}, "  max_version: TLS11\n", ":4: tls_server_config.max_version: TLS11 is not supported"),
    ({}, "  max_version: SSL3\n", ":4: tls_server_config.max_version: unknown value 'SSL3'"),
    ({}, "  min_version: TLS13\n  max_version: TLS12\n",
     ":5: tls_server_config.max_version: TLS12 is below min_version TLS13"),
    ({}, "  prefer_server_cipher_suites: 1\n",
     ":4: tls_server_config.prefer_server_cipher_suites: expected true or false"),
])  # fmt: skip
def test_tls_setting_problems(tmp_path, certs, files, extra, expected):
    path = tls_file(tmp_path, certs, extra, **files)
    found = problems(path)
    assert any(problem.startswith(str(path) + expected) for problem in found), found


def test_a_client_ca_needs_a_checking_client_auth_type(tmp_path, certs):
    for auth in ("NoClientCert", "RequestClientCert"):
        path = tls_file(tmp_path, certs, client_auth_type=auth, client_ca_file=str(certs.ca))
        assert only_problem(path).startswith(
            f"{path}:5: tls_server_config.client_ca_file: a client CA with client_auth_type "
            f"{auth} checks nothing")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, certs):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "junk.pem").write_text("not a PEM file\n")
    subprocess.run(["openssl", "ec", "-in", str(certs.server_key), "-aes256", "-passout",
                    "pass:secret", "-out", str(folder / "encrypted.key")], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    return folder


@pytest.mark.parametrize(("files", "key", "words"), [
    ({"cert_file": "{dir}/absent.crt"}, "cert_file", "{dir}/absent.crt: no such file"),
    ({"key_file": "{dir}/absent.key"}, "key_file", "{dir}/absent.key: no such file"),
    ({"cert_file": "{dir}"}, "cert_file", "{dir} is a directory"),
    ({"cert_file": "{dir}/junk.pem"}, "cert_file", "{dir}/junk.pem holds no PEM certificate"),
    ({"key_file": "{dir}/junk.pem"}, "key_file", "{dir}/junk.pem holds no PEM private key"),
    ({"key_file": "{client_key}"}, "key_file", "{client_key} is not the key of the certificate"),
    ({"key_file": "{dir}/encrypted.key"}, "key_file", "{dir}/encrypted.key is encrypted: lvsmon "
                                                      "needs an unencrypted key"),
    ({"client_ca_file": "{dir}/junk.pem"}, "client_ca_file",
     "{dir}/junk.pem holds no PEM certificate"),
    ({"client_ca_file": "{dir}/absent.crt"}, "client_ca_file", "{dir}/absent.crt: no such file"),
])  # fmt: skip
def test_file_problems(tmp_path, certs, bad_files, files, key, words):
    names = {"dir": bad_files, "client_key": certs.client_key}
    files = {name: value.format(**names) for name, value in files.items()}
    extra = "  client_auth_type: RequireAndVerifyClientCert\n" if "client_ca_file" in files \
        else ""
    path = tls_file(tmp_path, certs, extra, **files)
    found = only_problem(path)
    assert f": tls_server_config.{key}: {words.format(**names)}" in found, found
    line = [number for number, text in enumerate(path.read_text().splitlines(), 1)
            if text.strip().startswith(key + ":")][0]
    assert found.startswith(f"{path}:{line}: "), found


def test_every_problem_is_listed_at_once(tmp_path, certs):
    path = write(tmp_path, f"""\
tls_server_config:
  cert_file: {certs.server_cert}
  key_file: /nonexistent/server.key
  min_version: TLS9
http_server_config:
  headers:
    X-Frame-Options: always
basic_auth_users:
  alice: plaintext
unknown_key: 1
""")
    with pytest.raises(WebConfigError) as caught:
        load_web_config(path)
    keys = [problem.split(": ")[1] for problem in caught.value.problems]
    assert keys == ["tls_server_config.key_file", "tls_server_config.min_version",
                    "http_server_config.headers.X-Frame-Options", "basic_auth_users.alice",
                    "unknown_key"], caught.value.problems  # in the order of the file
    assert "(5 problems)" in str(caught.value)


def test_a_correct_file_after_a_broken_one(tmp_path, certs):
    path = write(tmp_path, "basic_auth_users:\n  alice: plaintext\n")
    with pytest.raises(WebConfigError):
        load_web_config(path)
    path.write_text(f"basic_auth_users:\n  alice: {HASH}\n")
    assert load_web_config(path) == WebConfig(path=str(path), users=(("alice", HASH),))
