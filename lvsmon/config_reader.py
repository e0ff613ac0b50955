"""Reading a TOML configuration file so that every problem is found at once, with its line.

    document = read_document("/etc/lvsmon/lvsmon.toml")   # ConfigError if unreadable / not TOML
    problems = Problems(document.path, document.lines)
    ipvs = Table.root(problems, document.data).section("ipvs")
    interval = ipvs.number("interval", 0.5, 3600, default=5.0)
    problems.raise_if_any()   # ConfigError listing every problem, in line order

A check that fails records a problem ("FILE:LINE: [SECTION] KEY: WHY") and gives back the
default, so reading goes on and the next problem is found too.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvsmon.errors import ConfigError
from lvsmon.toml_lines import locate

UNIX_SOCKET_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, without the final NUL


@dataclass(frozen=True, slots=True)
class Document:
    path: str
    data: dict
    lines: dict | None  # toml_lines.locate(text): path -> line


def read_document(path: str | Path) -> Document:
    """The parsed file and where each key is; one problem when it cannot be read or parsed."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 at byte {err.start}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(_syntax_problem(str(path), str(err))) from None
    try:
        lines = locate(text)
    except (IndexError, ValueError, tomllib.TOMLDecodeError):  # a scanner gap: lines unknown
        lines = {}
    return Document(str(path), data, lines)


def _syntax_problem(path: str, message: str) -> str:
    """tomllib says "... (at line 3, column 5)": put the place first, as compilers do."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found is None:
        return f"{path}: not valid TOML: {message}"
    return f"{path}:{found[1]}:{found[2]}: not valid TOML: {message[: found.start()]}"


class Problems:
    """The problems found in one file, each placed at its line."""

    def __init__(self, path: str, lines: dict | None):
        self.path = path
        self.lines = lines
        self._found: list[tuple[float, int, str]] = []

    def add(self, candidates: Iterable[tuple], text: str) -> None:
        """Record `text` at the line of the first of `candidates` (TOML paths) found."""
        line = None
        if self.lines is not None:
            line = next((self.lines[c] for c in candidates if c in self.lines), None)
        if self.lines is None:
            where = self.path
        elif line is None:
            where = f"{self.path} (line unknown)"
        else:
            where = f"{self.path}:{line}"
        order = float("inf") if line is None else line
        self._found.append((order, len(self._found), f"{where}: {text}"))

    def __bool__(self) -> bool:
        return bool(self._found)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(text for _, _, text in sorted(self._found))

    def raise_if_any(self) -> None:
        if self._found:
            raise ConfigError(self.texts)


_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               list: "a list", dict: "a table"}  # fmt: skip


def show(value: Any) -> str:
    """A value as it is written in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Table:
    """Typed reads of one TOML table; a bad value becomes a problem and reads as the default."""

    def __init__(self, problems: Problems, data: dict, path: tuple, label: str):
        self.problems = problems
        self.data = data
        self.path = path  # TOML path of the table, for line numbers
        self.label = label  # how messages name it: "[ipvs]", "[[vrrp.instance]] web:"

    @classmethod
    def root(cls, problems: Problems, data: dict) -> Table:
        return cls(problems, data, (), "")

    # -- problems --------------------------------------------------------------

    def fail(self, key: str | None, message: str, index: int | None = None) -> None:
        """A problem with `key` (element `index` of its list), or with the table itself."""
        candidates = []
        if key is not None:
            if index is not None:
                candidates.append((*self.path, key, index))
            candidates.append((*self.path, key))
        if key is None or key not in self.data:  # a missing key: the table's line
            candidates.append(self.path)
        if key is None:
            text = f"{self.label.rstrip(':')}: {message}"
        else:
            text = f"{self.label} {key}: {message}"
        self.problems.add(candidates, text)

    def known(self, keys: Iterable[str]) -> None:
        keys = tuple(keys)
        for key in self.data:
            if key not in keys:
                self.fail(key, f"unknown key (known: {', '.join(keys)})")

    # -- tables ----------------------------------------------------------------

    def section(self, name: str, known: Iterable[str] | None = None) -> Table:
        """The sub-table `name` of the root (empty when absent or not a table)."""
        return self.child(name, f"[{name}]", known)

    def child(self, key: str, label: str, known: Iterable[str] | None = None, *,
              index: int | None = None) -> Table:  # fmt: skip
        """The sub-table `key` (element `index` of the array of tables `key`) as a Table."""
        data = self.data.get(key, {})
        path = (*self.path, key)
        if index is not None:
            data, path = data[index], (*path, index)
        table = Table(self.problems, data if isinstance(data, dict) else {}, path, label)
        if not isinstance(data, dict):
            table.fail(None, f"must be a table, not {show(data)}")
        elif known is not None:
            table.known(known)
        return table

    # -- values ----------------------------------------------------------------

    def get(self, key: str, kinds: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any:  # fmt: skip
        if key not in self.data:
            if required:
                self.fail(key, "required")
            return default
        value = self.data[key]
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        # bool is an int in Python: never accept it where a number is wanted.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            wanted = " or ".join(_KIND_NAMES.get(kind, kind.__name__) for kind in kinds)
            self.fail(key, f"{show(value)} must be {wanted}")
            return None if required else default
        return value

    def integer(self, key: str, low: int, high: int, default: int | None = None,
                required: bool = False) -> int | None:  # fmt: skip
        value = self.get(key, int, default, required)
        if key in self.data and value is not None and not low <= value <= high:
            self.fail(key, f"{value} out of range {low}..{high}")
            return None if required else default
        return value

    def number(self, key: str, low: float, high: float, default: float) -> float:
        value = self.get(key, (int, float), default)
        if not low <= value <= high:
            self.fail(key, f"{show(value)} out of range {low:g}..{high:g}")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        return self.get(key, bool, default)

    def choice(self, key: str, choices: Iterable[str], default: str) -> str:
        choices = tuple(choices)
        value = self.get(key, str, default)
        if value not in choices:
            self.fail(key, f"{show(value)} is not one of {', '.join(choices)}")
            return default
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of non-empty strings; the bad elements are each a problem."""
        value = self.get(key, list, [])
        good = []
        for index, item in enumerate(value):
            if isinstance(item, str) and item:
                good.append(item)
            else:
                self.fail(key, f"element {index + 1} ({show(item)}) must be a non-empty string",
                          index)  # fmt: skip
        return tuple(good)

    def absolute_path(self, key: str, default: str | None, socket: bool = False) -> str | None:
        """An absolute path (a unix socket's fits in sun_path); absent gives `default`."""
        value = self.get(key, str, default)
        if value is None or key not in self.data:
            return value
        if not value.startswith("/"):
            self.fail(key, f"{show(value)} must be an absolute path")
            return default
        if socket and len(value.encode()) > UNIX_SOCKET_PATH_MAX:
            self.fail(key, f"too long for a unix socket ({UNIX_SOCKET_PATH_MAX} bytes at most)")
            return default
        return value
