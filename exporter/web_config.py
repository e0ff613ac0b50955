"""The exporter's web-config file: TLS and basic auth in the Prometheus exporter toolkit's format.

    config = load_web_config("/etc/lvsmon/web.yml")   # WebConfig, or WebConfigError
    PLAIN_HTTP                                        # no file: plain HTTP, no auth

One function reads and checks everything (YAML, keys, values, bcrypt hashes, and the
certificate, key and client CA files, loaded into a ready ssl.SSLContext) and returns an
immutable value, or raises lvsmon.errors.WebConfigError listing every problem with its file,
line and key. The daemon calls it at start and on SIGHUP; a bad file at reload leaves the
running settings alone.

    tls_server_config:
      cert_file: server.crt                # relative paths: from the web-config file's folder
      key_file: server.key                 # PEM, unencrypted
      client_auth_type: RequireAndVerifyClientCert   # default NoClientCert
      client_ca_file: clients-ca.crt
      min_version: TLS12                   # TLS12 or TLS13; default TLS12
      max_version: TLS13                   # default TLS13
      prefer_server_cipher_suites: true
    http_server_config:
      headers:                             # the toolkit's five, with its allowed values
        X-Content-Type-Options: nosniff
      http2: false                         # accepted and ignored: lvsmon serves HTTP/1.1
    basic_auth_users:
      prometheus: $2y$10$...               # bcrypt; `htpasswd -nBC 10 prometheus`
    basic_auth_excluded_paths:             # served without auth (exact paths)
      - /-/healthy

Differences from the toolkit, each refused with a clear message rather than half-honoured:
inline `cert`/`key`/`client_ca`, `cipher_suites`, `curve_preferences`, `client_allowed_sans`
and `rate_limit` are not supported; `RequireAnyClientCert` (any certificate, unchecked) cannot
be built with Python's ssl module, which verifies every certificate it asks for: use
`RequireAndVerifyClientCert` with `client_ca_file`. TLS10 and TLS11 are refused (deprecated by
RFC 8996, and below OpenSSL's default security level). `RequestClientCert` is served as
`NoClientCert`: both let in any client, and nothing here reads an unverified certificate.
Certificates are read at start and reload (SIGHUP), not on every connection.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path

from lvsmon.errors import WebConfigError
from lvsmon_exporter.basic_auth import BcryptUnavailable, bcrypt_problem, check_bcrypt_available
from lvsmon_exporter.yaml_subset import Mapping, Node, Scalar, Sequence, YamlError, parse

MAX_FILE_BYTES = 1024 * 1024

CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_CLIENT_AUTH = {
    "RequireAnyClientCert": "RequireAnyClientCert (any certificate, not checked) cannot be "
                            "served by lvsmon: use RequireAndVerifyClientCert with "
                            "client_ca_file",
    "RequireClientCert": "RequireClientCert (the toolkit's old name of RequireAnyClientCert) "
                         "cannot be served by lvsmon: use RequireAndVerifyClientCert with "
                         "client_ca_file",
}
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
OLD_TLS_VERSIONS = ("TLS10", "TLS11")  # the toolkit's; deprecated (RFC 8996)
# Response headers the toolkit lets a web-config set, with their allowed values (None: any).
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
_TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users",
             "basic_auth_excluded_paths")  # fmt: skip
_TLS_KEYS = ("cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
             "max_version", "prefer_server_cipher_suites")  # fmt: skip
_HTTP_KEYS = ("headers", "http2")
_NOT_SUPPORTED = {
    "rate_limit": "rate limiting is not supported by lvsmon",
    "tls_server_config.cert": "inline certificates are not supported: put it in a file and "
                              "name it in cert_file",
    "tls_server_config.key": "inline keys are not supported: put it in a file (mode 0600) "
                             "and name it in key_file",
    "tls_server_config.client_ca": "inline client CAs are not supported: put them in a file "
                                   "and name it in client_ca_file",
    "tls_server_config.cipher_suites": "choosing cipher suites is not supported (OpenSSL's "
                                       "defaults apply)",
    "tls_server_config.curve_preferences": "choosing curves is not supported (OpenSSL's "
                                           "defaults apply)",
    "tls_server_config.client_allowed_sans": "checking client certificate SANs is not "
                                             "supported: give these clients a CA of their own",
}
_TRUE, _FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True
    # Built from the files when loaded; equal settings may hold different contexts.
    context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class WebConfig:
    path: str | None = None
    tls: TlsSettings | None = None
    users: tuple[tuple[str, str], ...] = ()  # (user, bcrypt hash), in file order
    auth_excluded_paths: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # extra response headers

    @property
    def auth_required(self) -> bool:
        return bool(self.users)


PLAIN_HTTP = WebConfig()


def load_web_config(path: str | os.PathLike) -> WebConfig:
    """Read and check a web-config file; raises WebConfigError with every problem found."""
    reader = _Reader(str(path))
    config = reader.read()
    if reader.problems:
        raise WebConfigError(reader.path, reader.problems)
    return config


class _Reader:
    def __init__(self, path: str):
        self.path = path
        self.directory = Path(path).parent
        self._found: list[tuple[int, str]] = []
        self.key_lines: dict[str, int] = {}  # dotted key -> its line

    def problem(self, where: Node | int | None, key: str | None, why: str) -> None:
        line = where if isinstance(where, int) or where is None else where.line
        place = self.path if line is None else f"{self.path}:{line}"
        self._found.append((line or 0, f"{place}: {key}: {why}" if key else f"{place}: {why}"))

    @property
    def problems(self) -> list[str]:
        """In the order of the file."""
        return [text for _, text in sorted(self._found, key=lambda found: found[0])]

    def read(self) -> WebConfig:
        text = self._text()
        if text is None:
            return PLAIN_HTTP
        try:
            root = parse(text)
        except YamlError as exc:
            self.problem(exc.line, None, exc.why)
            return PLAIN_HTTP
        if root is None or _is_null(root):
            return WebConfig(path=self.path)
        if not isinstance(root, Mapping):
            self.problem(root, None, "expected keys such as tls_server_config and "
                                     "basic_auth_users at the top level")
            return PLAIN_HTTP
        sections = self._keys(root, "", _TOP_KEYS)
        tls = self._tls(sections.get("tls_server_config"))
        headers = self._http(sections.get("http_server_config"))
        users = self._users(sections.get("basic_auth_users"))
        excluded = self._excluded(sections.get("basic_auth_excluded_paths"))
        return WebConfig(path=self.path, tls=tls, users=users, auth_excluded_paths=excluded,
                         headers=headers)  # fmt: skip

    def _text(self) -> str | None:
        try:
            with open(self.path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            self.problem(None, None, "no such file")
            return None
        except IsADirectoryError:
            self.problem(None, None, "is a directory, not a file")
            return None
        except PermissionError:
            self.problem(None, None, "permission denied: make it readable by lvsmon's user")
            return None
        except OSError as exc:
            self.problem(None, None, f"cannot read it: {exc.strerror or exc}")
            return None
        if len(data) > MAX_FILE_BYTES:
            self.problem(None, None, f"larger than {MAX_FILE_BYTES} bytes: not a web-config file")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            self.problem(line, None, "not UTF-8 text")
            return None

    # -- structure -------------------------------------------------------------

    def _keys(self, mapping: Mapping, prefix: str, known: tuple[str, ...]) -> dict[str, Node]:
        """key -> value of `mapping`; unknown and unsupported keys are problems."""
        found: dict[str, Node] = {}
        for key, value in mapping.items:
            dotted = prefix + key.text
            self.key_lines[dotted] = key.line
            if key.text in known:
                found[key.text] = value
            elif dotted in _NOT_SUPPORTED:
                self.problem(key, dotted, _NOT_SUPPORTED[dotted])
            else:
                self.problem(key, dotted, f"unknown key (known here: {', '.join(known)})")
        return found

    def _mapping(self, node: Node | None, key: str) -> Mapping | None:
        if node is None or _is_null(node):
            return None
        if not isinstance(node, Mapping):
            self.problem(node, key, "expected keys below it, indented")
            return None
        return node

    def _string(self, node: Node, key: str) -> str | None:
        if not isinstance(node, Scalar) or node.is_null:
            self.problem(node, key, "expected a value")
            return None
        if any(ord(char) < 32 or ord(char) == 127 for char in node.text):
            self.problem(node, key, "control characters are not allowed")
            return None
        return node.text

    def _bool(self, node: Node, key: str) -> bool | None:
        if isinstance(node, Scalar) and not node.quoted:
            if node.text in _TRUE:
                return True
            if node.text in _FALSE:
                return False
        self.problem(node, key, "expected true or false")
        return None

    def _choice(self, node: Node, key: str, choices) -> str | None:
        text = self._string(node, key)
        if text is not None and text not in choices:
            self.problem(node, key, f"unknown value {text!r}: one of {', '.join(choices)}")
            return None
        return text

    # -- sections --------------------------------------------------------------

    def _tls(self, node: Node | None) -> TlsSettings | None:
        mapping = self._mapping(node, "tls_server_config")
        if mapping is None or not mapping.items:
            return None  # as in the toolkit: no TLS settings, plain HTTP
        keys = self._keys(mapping, "tls_server_config.", _TLS_KEYS)
        ok = True
        files: dict[str, str] = {}
        for name in ("cert_file", "key_file", "client_ca_file"):
            if name in keys:
                text = self._string(keys[name], f"tls_server_config.{name}")
                if text is None:
                    ok = False
                else:
                    files[name] = str(self.directory / text)
            elif name != "client_ca_file":
                self.problem(self.key_lines["tls_server_config"], f"tls_server_config.{name}",
                             "missing (needed for TLS)")
                ok = False
        auth = "NoClientCert"
        if "client_auth_type" in keys:
            node = keys["client_auth_type"]
            text = self._string(node, "tls_server_config.client_auth_type")
            if text in UNSUPPORTED_CLIENT_AUTH:
                self.problem(node, "tls_server_config.client_auth_type",
                             UNSUPPORTED_CLIENT_AUTH[text])
                text = None
            elif text is not None and text not in CLIENT_AUTH_TYPES:
                self.problem(node, "tls_server_config.client_auth_type",
                             f"unknown value {text!r}: one of {', '.join(CLIENT_AUTH_TYPES)}")
                text = None
            ok = ok and text is not None
            auth = text or auth
        versions = {}
        for name, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
            versions[name] = default
            if name in keys:
                node = keys[name]
                if isinstance(node, Scalar) and node.text in OLD_TLS_VERSIONS:
                    self.problem(node, f"tls_server_config.{name}", f"{node.text} is not "
                                 "supported (TLS 1.0 and 1.1 are deprecated): use TLS12 or TLS13")
                    text = None
                else:
                    text = self._choice(node, f"tls_server_config.{name}", TLS_VERSIONS)
                ok = ok and text is not None
                versions[name] = text or default
        if TLS_VERSIONS[versions["min_version"]] > TLS_VERSIONS[versions["max_version"]]:
            self.problem(keys.get("max_version", mapping), "tls_server_config.max_version",
                         f"{versions['max_version']} is below min_version "
                         f"{versions['min_version']}")
            ok = False
        prefer = True
        if "prefer_server_cipher_suites" in keys:
            value = self._bool(keys["prefer_server_cipher_suites"],
                               "tls_server_config.prefer_server_cipher_suites")
            ok = ok and value is not None
            prefer = True if value is None else value
        verifies = CLIENT_AUTH_TYPES.get(auth) != ssl.CERT_NONE
        if "client_ca_file" in files and not verifies:
            self.problem(keys["client_ca_file"], "tls_server_config.client_ca_file",
                         f"a client CA with client_auth_type {auth} checks nothing: set "
                         "client_auth_type to RequireAndVerifyClientCert")
            ok = False
        if verifies and "client_ca_file" not in files and "client_ca_file" not in keys:
            self.problem(keys["client_auth_type"], "tls_server_config.client_auth_type",
                         f"{auth} needs client_ca_file (the CA that signs client certificates)")
            ok = False
        for name, path in files.items():  # reported even when another setting is wrong
            problem = _unreadable(path)
            if problem:
                self.problem(keys[name], f"tls_server_config.{name}", problem)
                ok = False
        if not ok:
            return None
        settings = TlsSettings(
            cert_file=files["cert_file"], key_file=files["key_file"], client_auth_type=auth,
            client_ca_file=files.get("client_ca_file"), min_version=versions["min_version"],
            max_version=versions["max_version"], prefer_server_cipher_suites=prefer,
        )  # fmt: skip
        context = self._context(settings, keys)
        if context is None:
            return None
        return replace(settings, context=context)

    def _context(self, tls: TlsSettings, keys: dict[str, Node]) -> ssl.SSLContext | None:
        """A server context from the files, or None with the problems reported."""
        where = {"cert_file": keys["cert_file"], "key_file": keys["key_file"]}
        if tls.client_ca_file:
            where["client_ca_file"] = keys["client_ca_file"]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[tls.min_version]
        context.maximum_version = TLS_VERSIONS[tls.max_version]
        context.options |= ssl.OP_NO_RENEGOTIATION
        if tls.prefer_server_cipher_suites:
            context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        else:
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        context.set_alpn_protocols(["http/1.1"])
        ok = self._certificate(context, tls, where)
        if tls.client_ca_file:
            try:
                context.load_verify_locations(cafile=tls.client_ca_file)
            except ssl.SSLError as exc:
                self.problem(where["client_ca_file"], "tls_server_config.client_ca_file",
                             f"{tls.client_ca_file} holds no PEM certificate ({_reason(exc)})")
                ok = False
        context.verify_mode = CLIENT_AUTH_TYPES[tls.client_auth_type]
        return context if ok else None

    def _certificate(self, context: ssl.SSLContext, tls: TlsSettings,
                     where: dict[str, Node]) -> bool:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            probe.load_verify_locations(cafile=tls.cert_file)
        except ssl.SSLError as exc:
            self.problem(where["cert_file"], "tls_server_config.cert_file",
                         f"{tls.cert_file} holds no PEM certificate ({_reason(exc)})")
            return False
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)
        except _EncryptedKey:
            why = (f"{tls.key_file} is encrypted: lvsmon needs an unencrypted key "
                   "(readable only by lvsmon's user)")
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                why = f"{tls.key_file} is not the key of the certificate in {tls.cert_file}"
            elif exc.library == "SSL" and exc.reason in (None, "PEM_LIB"):
                why = f"{tls.key_file} holds no PEM private key"
            else:
                why = f"cannot use {tls.key_file} with {tls.cert_file}: {_reason(exc)}"
        else:
            return True
        self.problem(where["key_file"], "tls_server_config.key_file", why)
        return False

    def _http(self, node: Node | None) -> tuple[tuple[str, str], ...]:
        mapping = self._mapping(node, "http_server_config")
        if mapping is None:
            return ()
        keys = self._keys(mapping, "http_server_config.", _HTTP_KEYS)
        if "http2" in keys:  # lvsmon speaks HTTP/1.1 only; scrapes need nothing more
            self._bool(keys["http2"], "http_server_config.http2")
        headers = self._mapping(keys.get("headers"), "http_server_config.headers")
        if headers is None:
            return ()
        result = []
        for key, value in headers.items:
            where = f"http_server_config.headers.{key.text}"
            if key.text not in HEADERS:
                self.problem(key, where, f"this header cannot be set (one of "
                                         f"{', '.join(HEADERS)})")
                continue
            text = self._string(value, where)
            if text is None:
                continue
            allowed = HEADERS[key.text]
            if allowed is not None and text not in allowed:
                self.problem(value, where, f"unknown value {text!r}: one of "
                                           f"{', '.join(allowed)}")
                continue
            if text:
                result.append((key.text, text))
        return tuple(result)

    def _users(self, node: Node | None) -> tuple[tuple[str, str], ...]:
        mapping = self._mapping(node, "basic_auth_users")
        if mapping is None:
            return ()
        users = []
        for key, value in mapping.items:
            where = f"basic_auth_users.{key.text}"
            if not key.text or ":" in key.text:
                self.problem(key, where, "a user name must not be empty or contain ':'")
                continue
            hashed = self._string(value, where)
            if hashed is None:
                continue
            problem = bcrypt_problem(hashed)
            if problem:
                self.problem(value, where, problem)
                continue
            users.append((key.text, hashed))
        if users:
            try:
                check_bcrypt_available()
            except BcryptUnavailable as exc:
                self.problem(mapping, "basic_auth_users", f"cannot check bcrypt passwords: "
                                                          f"{exc} (install libcrypt1)")
        return tuple(users)

    def _excluded(self, node: Node | None) -> tuple[str, ...]:
        if node is None or _is_null(node):
            return ()
        if not isinstance(node, Sequence):
            self.problem(node, "basic_auth_excluded_paths", "expected a list of paths")
            return ()
        paths = []
        for item in node.items:
            text = self._string(item, "basic_auth_excluded_paths")
            if text is None:
                continue
            if not text.startswith("/"):
                self.problem(item, "basic_auth_excluded_paths",
                             f"{text!r} is not a path (like /-/healthy)")
                continue
            paths.append(text)
        return tuple(paths)


class _EncryptedKey(Exception):
    pass


def _no_passphrase():
    # Called by OpenSSL only for an encrypted key; without it, it would prompt on a terminal.
    raise _EncryptedKey


def _is_null(node: Node) -> bool:
    return isinstance(node, Scalar) and node.is_null


def _unreadable(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return f"{path}: no such file"
    except IsADirectoryError:
        return f"{path} is a directory"
    except PermissionError:
        return f"{path}: permission denied (make it readable by lvsmon's user)"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def _reason(exc: ssl.SSLError) -> str:
    return exc.reason or str(exc)
