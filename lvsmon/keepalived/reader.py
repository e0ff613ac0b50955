"""Reads keepalived.conf and its includes into the lines keepalived's parser sees.

Files, comments, conditionals, definitions, sequences and includes all happen
here, in keepalived 2.2's order (lib/parser.c's read_line, rewritten), so what
comes out is a stream of ``Line``s, each one brace or one keyword line, with the
file and line number it came from:

- ``@ID text`` keeps ``text`` only when ID is the config id (keepalived's ``-i``,
  by default the host name up to its first dot); ``@^ID text`` only when not.
- ``include PATTERN`` (and includer/m/w/b/a) reads the files a glob pattern
  matches, relative to the directory of the including file, each in name
  order; ``{a,b}`` alternatives are expanded first. Directories and files that
  are not regular or are executable are skipped (with a warning), as keepalived
  does. A pattern without wildcards that matches nothing, a file that cannot be
  read and an include loop are errors (keepalived would go on without the
  file; lvsmon would then report a configuration it does not have).
- Lines a ``~SEQ``/``~LST`` or a multi-line definition make come next, before
  the following line of the file.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from lvsmon.errors import KeepalivedConfigError
from lvsmon.keepalived import lexer
from lvsmon.keepalived.definitions import Definition, Definitions, ExpansionError, parse_definition
from lvsmon.keepalived.sequences import SequenceError, parse_lst, parse_seq

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_LINES = 1_000_000  # lines handed on, after sequences and definitions
MAX_BRACE_ALTERNATIVES = 4096
KEEPALIVED_LINE_MAX = 1023  # keepalived reads lines this long in pieces (1024-byte buffer)
WILDCARDS = "*?[{"


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int | None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    where: Where


class _File:
    """One file being read (and the files its include pattern matched after it)."""

    def __init__(self, paths: list[str], include_where: Where | None):
        self.queue = list(paths)
        self.include_where = include_where
        self.path = ""
        self.real = ""
        self.lines: list[str] = []
        self.index = 0

    @property
    def directory(self) -> str:
        return os.path.dirname(self.path)


class _Generated:
    """Lines made from one line: a brace's rest, a sequence, a multi-line definition."""

    def __init__(self, lines: Iterator[str], where: Where):
        self.lines = lines
        self.where = where


class ConfigReader:
    """Iterate ``lines()`` once; then ``files`` and ``warnings`` say what was read."""

    def __init__(self, path: str, config_id: str):
        self.path = path
        self.config_id = config_id
        self.files: list[str] = []
        self.warnings: list[str] = []
        self._stack: list[_File] = []
        self._generated: list[_Generated] = []
        self._defining: Definition | None = None
        self._count = 0
        self.definitions = Definitions(config_id, self._directory)

    def lines(self) -> Iterator[Line]:
        self._open(_File([self.path], None))
        while True:
            candidate = self._next_candidate()
            if candidate is None:
                return
            text, where = candidate
            self._count += 1
            if self._count > MAX_LINES:
                raise KeepalivedConfigError(
                    where.file, where.line, f"the configuration expands to more than {MAX_LINES} "
                    "lines", "check the ~SEQ / ~LST ranges and definitions",
                )  # fmt: skip
            text = self._process(text, where)
            if not text:
                continue
            include = lexer.include_pattern(text)
            if include is not None:
                self._include(*include, where)
                continue
            head, rest = lexer.split_brace(text)
            if rest is not None:
                self._generated.append(_Generated(iter([rest]), where))
            yield Line(head, where)

    # -- where lines come from ------------------------------------------------------

    def _next_candidate(self) -> tuple[str, Where] | None:
        while self._generated:
            source = self._generated[-1]
            text = next(source.lines, None)
            if text is None:
                self._generated.pop()
                continue
            return text, source.where
        while self._stack:
            current = self._stack[-1]
            if current.index >= len(current.lines):
                if not self._open_next(current):
                    self._stack.pop()
                continue
            current.index += 1
            raw = current.lines[current.index - 1]
            where = Where(current.path, current.index)
            if not raw:
                self._end_definition()  # an empty line ends a multi-line definition
                continue
            if len(raw) >= KEEPALIVED_LINE_MAX:
                self._warn(where, f"line longer than {KEEPALIVED_LINE_MAX} characters: "
                           "keepalived reads it as several lines")  # fmt: skip
            text, closed = lexer.decomment(raw)
            if not closed:
                raise _error(where, "unterminated quote", 'close the " on this line')
            if text:
                return text, where
        return None

    def _directory(self) -> str:
        path = self._stack[-1].path if self._stack else self.path
        return os.path.dirname(os.path.abspath(path))

    # -- one line: continued definitions, conditionals, definitions, sequences --------

    def _process(self, text: str, where: Where) -> str | None:
        if self._defining is not None:
            self._continue_definition(text)
            return None
        while True:
            if text.startswith("@"):
                text = lexer.conditional(text, self.config_id)
                if not text:
                    return None
            definition = parse_definition(text) if text.startswith("$") else None
            if definition is not None:
                name, value, multiline = definition
                made = self.definitions.define(name, value, multiline)
                if multiline:
                    self._defining = made
                return None
            if text.startswith(("~SEQ", "~LST")):
                self._sequence(text, where)
                return None
            if text.startswith("~") or "$" not in text:
                return text
            try:
                replaced, found, pending = self.definitions.substitute(text)
            except ExpansionError as exc:
                raise _error(where, str(exc), "check the definitions this line uses") from None
            if not found:
                return text
            for lines in pending:
                self._generated.append(_Generated(iter(lines), where))
            text, closed = lexer.decomment(replaced)
            if not closed:
                raise _error(where, "unterminated quote once definitions are replaced",
                             'check the " in the definitions this line uses')  # fmt: skip
            if not (text.startswith("@") or "$" in text):
                return text

    def _continue_definition(self, text: str) -> None:
        definition = self._defining
        assert definition is not None
        if text.endswith("\\"):
            body, continues = text[:-1].rstrip(" \t") + "\n", True
        else:
            body, continues = text, False
            self._end_definition()
        if len(body) >= 2 or (body and not continues):
            definition.value += body

    def _end_definition(self) -> None:
        if self._defining is not None and not self._defining.value:
            self._defining.multiline = False
        self._defining = None

    def _sequence(self, text: str, where: Where) -> None:
        try:
            if text.startswith("~SEQ"):
                name, values, body = parse_seq(text, self.definitions)
                lines = self._seq_lines(name, values, body)
            else:
                names, value_sets, body = parse_lst(text)
                lines = self._lst_lines(names, value_sets, body)
        except SequenceError as exc:
            raise _error(where, str(exc), "see keepalived.conf(5), ~SEQ and ~LST") from None
        self._generated.append(_Generated(lines, where))

    def _seq_lines(self, name: str, values: Iterator[str], body: str) -> Iterator[str]:
        for value in values:
            self.definitions.define(name, value)
            yield body

    def _lst_lines(self, names, value_sets, body: str) -> Iterator[str]:
        for values in value_sets:
            for name, value in zip(names, values, strict=True):
                self.definitions.define(name, value)
            yield body

    # -- files and includes -------------------------------------------------------

    def _include(self, kind: str, pattern: str, where: Where) -> None:
        base = self._stack[-1].directory if self._stack else ""
        matches = _glob(pattern, base, where)
        if not matches:
            if not any(c in pattern for c in WILDCARDS):
                raise _error(where, f"cannot read include {pattern}: no such file",
                             "fix the include line or create the file")  # fmt: skip
            if kind in ("w", "a"):
                raise _error(where, f"include{kind} {pattern} matches no file",
                             "create a matching file or use plain include")  # fmt: skip
            return
        readable = []
        for path in matches:
            if os.path.isdir(path):
                self._warn(where, f"include {pattern}: skipped directory {path}")
            elif not _regular_not_executable(path):
                self._warn(where, f"include {pattern}: skipped {path}, "
                           "not a regular non-executable file")  # fmt: skip
            else:
                readable.append(path)
        if readable:
            self._open(_File(readable, where))

    def _open(self, entry: _File) -> None:
        if self._open_next(entry):
            self._stack.append(entry)

    def _open_next(self, entry: _File) -> bool:
        """Reads the next file of the entry's queue into it; False when none is left."""
        if not entry.queue:
            return False
        path = entry.queue.pop(0)
        where = entry.include_where
        real = os.path.realpath(path)
        for open_file in self._stack:
            if open_file.real == real and open_file is not entry:
                raise _error(where or Where(path, None), f"include loop: {path} is already "
                             "being read", "remove the include that leads back to it")  # fmt: skip
        main_file = where is None and os.path.exists(path) and not os.path.isdir(path)
        if main_file and not _regular_not_executable(path):
            raise _error(Where(path, None), "keepalived reads only a regular, non-executable "
                         "file", "chmod a-x it, or point at the real file")  # fmt: skip
        entry.path, entry.real = path, real
        entry.lines = _read_lines(path, where)
        entry.index = 0
        self.files.append(path)
        return True

    def _warn(self, where: Where, text: str) -> None:
        self.warnings.append(f"{where}: {text}")


def _read_lines(path: str, where: Where | None) -> list[str]:
    """The file's lines, as keepalived's fgets-based reading sees them."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        what = "include " + path if where is not None else path
        # No option named: `lvsmon keepalived`, the daemon and check_ipvs each take it otherwise.
        raise _error(where or Where(path, None), f"cannot read {what}: {exc.strerror}",
                     "check the path and its permissions") from None  # fmt: skip
    if len(data) > MAX_FILE_BYTES:
        raise _error(where or Where(path, None), f"{path} is larger than {MAX_FILE_BYTES} bytes",
                     "is this really a keepalived configuration?")  # fmt: skip
    lines = []
    for raw in data.split(b"\n"):
        raw = raw.split(b"\0", 1)[0].rstrip(b"\r\n")
        lines.append(raw.decode("utf-8", "replace"))
    if lines and lines[-1] == "" and data.endswith(b"\n"):
        lines.pop()
    return lines


def _regular_not_executable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _glob(pattern: str, base: str, where: Where) -> list[str]:
    """The files a pattern names, keepalived's way: brace alternatives in order, each sorted."""
    found: list[str] = []
    for alternative in _expand_braces(pattern, where):
        if not alternative:
            continue
        if os.path.isabs(alternative):
            names = glob.glob(alternative)
        else:
            names = [os.path.join(base, n) for n in glob.glob(alternative, root_dir=base or None)]
        found.extend(sorted(names))
    return found


def _expand_braces(pattern: str, where: Where) -> list[str]:
    results = [pattern]
    done: list[str] = []
    while results:
        text = results.pop(0)
        span = _first_brace(text)
        if span is None:
            done.append(text)
            continue
        start, end, commas = span
        cuts = [start, *commas, end]
        alternatives = [text[a + 1 : b] for a, b in zip(cuts, cuts[1:], strict=False)]
        expanded = [text[:start] + alt + text[end + 1 :] for alt in alternatives]
        results = expanded + results
        if len(results) + len(done) > MAX_BRACE_ALTERNATIVES:
            raise _error(where, f"include pattern has more than {MAX_BRACE_ALTERNATIVES} "
                         "alternatives", "use fewer {a,b} in it")  # fmt: skip
    return done


def _first_brace(text: str) -> tuple[int, int, list[int]] | None:
    """(index of the first {, of its matching }, of its top-level commas), if it has one."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "{":
            depth, commas, j = 0, [], i
            while j < len(text):
                char = text[j]
                if char == "\\":
                    j += 2
                    continue
                if char == "{":
                    depth += 1
                elif char == "}":
                    depth -= 1
                    if depth == 0:
                        return i, j, commas
                elif char == "," and depth == 1:
                    commas.append(j)
                j += 1
        i += 1
    return None


def _error(where: Where, why: str, hint: str) -> KeepalivedConfigError:
    return KeepalivedConfigError(where.file, where.line, why, hint)
