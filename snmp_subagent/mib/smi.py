"""A small reader of SMIv2 MIB modules (RFC 2578/2579/2580), stdlib only.

    modules = parse_file("mibs/KEEPALIVED-MIB.txt")      # [Module], one per BEGIN..END
    module.definitions["vrrpInstanceState"]             # Definition: macro, parent, subid ...

It reads what a checker needs from each top-level assignment, and skips what it
does not (DESCRIPTION texts, DEFVAL, compliance details): OBJECT IDENTIFIER values,
MODULE-IDENTITY, OBJECT-IDENTITY, OBJECT-TYPE (SYNTAX, UNITS, MAX-ACCESS, STATUS,
INDEX, AUGMENTS), NOTIFICATION-TYPE (OBJECTS), OBJECT-GROUP, NOTIFICATION-GROUP,
MODULE-COMPLIANCE, AGENT-CAPABILITIES, TEXTUAL-CONVENTION and plain type
assignments, SEQUENCE types, IMPORTS. Net-snmp, smilint and pysmi cannot load MIBs
here (Debian ships no IETF base modules), so this parser stands in for their front end.
A module it cannot read raises lvsmon.errors.ParseError with the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lvsmon.errors import ParseError

OID_MACROS = ("MODULE-IDENTITY", "OBJECT-IDENTITY", "OBJECT-TYPE", "NOTIFICATION-TYPE",
              "OBJECT-GROUP", "NOTIFICATION-GROUP", "MODULE-COMPLIANCE",
              "AGENT-CAPABILITIES")  # fmt: skip
OBJECT_IDENTIFIER = "OBJECT IDENTIFIER"  # the macro name we give a plain OID assignment

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--)
  | (?P<string>"[^"]*")
  | (?P<assign>::=)
  | (?P<range>\.\.)
  | (?P<punct>[{}(),;|.\[\]])
  | (?P<word>[A-Za-z][A-Za-z0-9-]*)
  | (?P<number>-?[0-9]+|'[0-9A-Fa-f]*'[HhBb])
""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    line: int


@dataclass(frozen=True, slots=True)
class Syntax:
    """A SYNTAX clause: the type named, its named numbers (enums, BITS) and constraint."""

    type: str  # "INTEGER", "OCTET STRING", "OBJECT IDENTIFIER", "BITS", "SEQUENCE OF X",
    #            or a type reference such as "Integer32", "DisplayString", "VrrpState"
    named: tuple[tuple[str, int], ...] = ()
    constraint: str = ""  # normalised text inside (...), e.g. "0..255" or "SIZE(0|4|16)"

    def __str__(self) -> str:
        text = self.type
        if self.named:
            text += " { " + ", ".join(f"{name}({number})" for name, number in self.named) + " }"
        if self.constraint:
            text += f" ({self.constraint})"
        return text

    def sizes(self) -> tuple[int, ...] | None:
        """The sizes a SIZE constraint allows when it lists single values, else None."""
        match = re.fullmatch(r"SIZE\((.*)\)", self.constraint)
        if not match:
            return None
        parts = match[1].split("|")
        if not all(re.fullmatch(r"[0-9]+", part) for part in parts):
            return None
        return tuple(int(part) for part in parts)

    def value_range(self) -> tuple[int, int] | None:
        """(low, high) over every alternative of a value range constraint, else None."""
        if not self.constraint or self.constraint.startswith("SIZE"):
            return None
        numbers = [int(n) for n in re.findall(r"-?[0-9]+", self.constraint)]
        return (min(numbers), max(numbers)) if numbers else None


@dataclass(slots=True)
class Definition:
    """One assignment of a module. OID-valued ones have `oid_value`; types have `syntax`."""

    name: str
    macro: str  # one of OID_MACROS, OBJECT_IDENTIFIER, "TEXTUAL-CONVENTION", "TYPE", "SEQUENCE"
    line: int
    module: str = ""
    oid_value: tuple[tuple[str | None, int | None], ...] = ()  # ((name, number) ...)
    syntax: Syntax | None = None
    access: str | None = None  # MAX-ACCESS (ACCESS in SMIv1)
    status: str | None = None
    units: str | None = None
    index: tuple[str, ...] = ()
    implied: str | None = None  # the IMPLIED index object, if any
    augments: str | None = None
    members: tuple[str, ...] = ()  # OBJECTS / NOTIFICATIONS / MANDATORY-GROUPS / SEQUENCE names
    display_hint: str | None = None

    @property
    def parent(self) -> str | None:
        """The named component an OID value starts from ({ parent n })."""
        return self.oid_value[0][0] if self.oid_value else None

    @property
    def subid(self) -> int | None:
        return self.oid_value[-1][1] if self.oid_value else None


@dataclass(slots=True)
class Module:
    name: str
    path: str
    definitions: dict[str, Definition] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # symbol -> module it comes from
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, what) not fatal


def tokenize(text: str, path: str) -> list[Token]:
    """ASN.1 tokens; a comment runs from "--" to the next "--" or the end of the line."""
    tokens: list[Token] = []
    line, pos, end = 1, 0, len(text)
    while pos < end:
        match = _TOKEN.match(text, pos)
        if not match:
            raise ParseError(path, line, f"unexpected character {text[pos]!r}")
        kind, value = match.lastgroup, match[0]
        if kind == "comment":
            close = text.find("--", match.end())
            newline = text.find("\n", match.end())
            if newline == -1:
                newline = end
            stop = close + 2 if close != -1 and close < newline else newline
            pos = stop
            continue
        if kind not in ("space",):
            tokens.append(Token(value, line))
        line += value.count("\n")
        pos = match.end()
    return tokens


class _Reader:
    def __init__(self, tokens: list[Token], path: str):
        self.tokens, self.path, self.pos = tokens, path, 0

    @property
    def line(self) -> int:
        if self.pos < len(self.tokens):
            return self.tokens[self.pos].line
        return self.tokens[-1].line if self.tokens else 1

    def peek(self, ahead: int = 0) -> str | None:
        at = self.pos + ahead
        return self.tokens[at].text if at < len(self.tokens) else None

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise ParseError(self.path, self.line, "unexpected end of file")
        self.pos += 1
        return self.tokens[self.pos - 1].text

    def expect(self, *wanted: str) -> str:
        got = self.take()
        if got not in wanted:
            raise ParseError(self.path, self.tokens[self.pos - 1].line,
                             f"expected {' or '.join(wanted)}, found {got!r}")
        return got

    def at(self, *words: str) -> bool:
        return all(self.peek(i) == word for i, word in enumerate(words))

    def braced(self) -> list[str]:
        """The tokens between a { and its matching }, nesting kept, braces dropped."""
        self.expect("{")
        depth, found = 1, []
        while True:
            word = self.take()
            if word == "{":
                depth += 1
            elif word == "}":
                depth -= 1
                if depth == 0:
                    return found
            found.append(word)

    def parenthesised(self) -> list[str]:
        self.expect("(")
        depth, found = 1, []
        while True:
            word = self.take()
            if word == "(":
                depth += 1
            elif word == ")":
                depth -= 1
                if depth == 0:
                    return found
            found.append(word)


def parse_file(path: str | Path) -> list[Module]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ParseError(str(path), None, f"cannot read: {exc.strerror}") from None
    return parse_text(text, str(path))


def parse_text(text: str, path: str = "<text>") -> list[Module]:
    reader = _Reader(tokenize(text, path), path)
    modules = []
    while reader.peek() is not None:
        modules.append(_module(reader))
    if not modules:
        raise ParseError(path, None, "no MIB module (NAME DEFINITIONS ::= BEGIN ... END)")
    return modules


def _module(r: _Reader) -> Module:
    name = r.take()
    if not _is_module_name(name):
        raise ParseError(r.path, r.line, f"expected a module name, found {name!r}")
    r.expect("DEFINITIONS")
    r.expect("::=")
    r.expect("BEGIN")
    module = Module(name, r.path)
    while True:
        word = r.peek()
        if word is None:
            raise ParseError(r.path, r.line, f"module {name}: no END")
        if word == "END":
            r.take()
            return module
        if word == "IMPORTS":
            r.take()
            _imports(r, module)
        elif word == "EXPORTS":
            while r.take() != ";":
                pass
        else:
            definition = _assignment(r)
            definition.module = name
            if definition.name in module.definitions:
                module.problems.append((definition.line, f"{definition.name} defined twice in "
                                                         f"{name}"))
            module.definitions[definition.name] = definition


def _is_module_name(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Za-z0-9-]*", word))


def _imports(r: _Reader, module: Module) -> None:
    symbols: list[str] = []
    while True:
        word = r.take()
        if word == ";":
            if symbols:
                raise ParseError(r.path, r.line, f"IMPORTS: {symbols} lack a FROM")
            return
        if word == ",":
            continue
        if word == "FROM":
            source = r.take()
            for symbol in symbols:
                module.imports[symbol] = source
            symbols = []
            continue
        symbols.append(word)


def _assignment(r: _Reader) -> Definition:
    line = r.line
    name = r.take()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", name):
        raise ParseError(r.path, line, f"expected a definition, found {name!r}")
    if r.at("OBJECT", "IDENTIFIER", "::="):
        r.pos += 3
        return Definition(name, OBJECT_IDENTIFIER, line, oid_value=_oid_value(r))
    if r.peek() in OID_MACROS:
        return _macro(r, name, r.take(), line)
    if r.peek() == "MACRO":  # SNMPv2-SMI's own macro definitions: skip to their END
        while r.take() != "END":
            pass
        return Definition(name, "MACRO", line)
    r.expect("::=")
    if r.peek() == "TEXTUAL-CONVENTION":
        r.take()
        return _textual_convention(r, name, line)
    if r.at("SEQUENCE", "{"):
        r.take()
        body = r.braced()
        members = tuple(body[i] for i in range(len(body))
                        if (i == 0 or body[i - 1] == ",") and body[i] != ",")  # fmt: skip
        return Definition(name, "SEQUENCE", line, members=members)
    return Definition(name, "TYPE", line, syntax=_syntax(r))


def _oid_value(r: _Reader) -> tuple[tuple[str | None, int | None], ...]:
    body = r.braced()
    parts: list[tuple[str | None, int | None]] = []
    i = 0
    while i < len(body):
        word = body[i]
        if re.fullmatch(r"[0-9]+", word):
            parts.append((None, int(word)))
            i += 1
        elif i + 3 < len(body) + 1 and body[i + 1:i + 2] == ["("]:
            parts.append((word, int(body[i + 2])))
            i += 4
        else:
            parts.append((word, None))
            i += 1
    if not parts:
        raise ParseError(r.path, r.line, "empty OBJECT IDENTIFIER value")
    return tuple(parts)


def _syntax(r: _Reader) -> Syntax:
    if r.at("OCTET", "STRING"):
        r.pos += 2
        kind = "OCTET STRING"
    elif r.at("OBJECT", "IDENTIFIER"):
        r.pos += 2
        kind = "OBJECT IDENTIFIER"
    elif r.at("SEQUENCE", "OF"):
        r.pos += 2
        kind = f"SEQUENCE OF {r.take()}"
    else:
        kind = r.take()
    named: tuple[tuple[str, int], ...] = ()
    constraint = ""
    if r.peek() == "{":
        body = [word for word in r.braced() if word != ","]
        pairs = []
        for i in range(0, len(body), 4):
            chunk = body[i:i + 4]
            if len(chunk) != 4 or chunk[1] != "(" or chunk[3] != ")":
                raise ParseError(r.path, r.line, f"bad named number list in {kind}: {chunk}")
            pairs.append((chunk[0], int(chunk[2])))
        named = tuple(pairs)
    if r.peek() == "(":
        constraint = "".join(r.parenthesised())
    return Syntax(kind, named, constraint)


def _macro(r: _Reader, name: str, macro: str, line: int) -> Definition:
    definition = Definition(name, macro, line)
    members: list[str] = []
    while True:
        word = r.peek()
        if word is None:
            raise ParseError(r.path, line, f"{name} {macro}: no ::= value")
        if word == "::=":
            r.take()
            definition.oid_value = _oid_value(r)
            definition.members = tuple(members)
            return definition
        r.take()
        if word == "SYNTAX" and macro == "OBJECT-TYPE":
            definition.syntax = _syntax(r)
        elif word in ("MAX-ACCESS", "ACCESS") and macro == "OBJECT-TYPE":
            definition.access = r.take()
        elif word == "STATUS":
            definition.status = r.take()
        elif word == "UNITS":
            definition.units = r.take().strip('"')
        elif word == "INDEX":
            items = [item for item in r.braced() if item != ","]
            if "IMPLIED" in items:
                definition.implied = items[items.index("IMPLIED") + 1]
                items.remove("IMPLIED")
            definition.index = tuple(items)
        elif word == "AUGMENTS":
            definition.augments = r.braced()[0]
        elif word in ("OBJECTS", "NOTIFICATIONS", "MANDATORY-GROUPS") and r.peek() == "{":
            members += [item for item in r.braced() if item != ","]
        elif word in ("DEFVAL", "INCLUDES") and r.peek() == "{":
            r.braced()
        elif word in ("WRITE-SYNTAX",) or (word == "SYNTAX" and macro != "OBJECT-TYPE"):
            _syntax(r)  # MODULE-COMPLIANCE / AGENT-CAPABILITIES refinements


def _textual_convention(r: _Reader, name: str, line: int) -> Definition:
    definition = Definition(name, "TEXTUAL-CONVENTION", line)
    while True:
        word = r.take()
        if word == "DISPLAY-HINT":
            definition.display_hint = r.take().strip('"')
        elif word == "STATUS":
            definition.status = r.take()
        elif word == "SYNTAX":
            definition.syntax = _syntax(r)
            return definition
