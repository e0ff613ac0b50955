"""A strict reader for the small part of YAML that web-config files use.

    parse(text) -> Mapping | Sequence | Scalar | None (an empty document)

Supported: block mappings and block sequences nested by indentation (spaces only), a
sequence directly under its key ("key:" then "- item" at the key's indentation), one-line
flow collections ([a, b], {k: v}), plain, 'single' and "double" quoted scalars, comments,
and a leading "---". Everything else a web-config file never needs is refused with the line:
anchors, aliases, tags, block scalars (| >), multi-line scalars, several documents,
complex keys, duplicate keys, tabs in indentation.

Scalars stay text (with their line, and whether they were quoted); the caller decides what
a value means (true/false, a number, a path), so "no", "on" or "010" are never guessed into
something else. No dependency: PyYAML is not among lvsmon's packages, and these files are
a few lines long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class YamlError(Exception):
    def __init__(self, line: int, why: str):
        super().__init__(f"line {line}: {why}")
        self.line = line
        self.why = why


@dataclass(frozen=True)
class Scalar:
    text: str
    quoted: bool
    line: int

    @property
    def is_null(self) -> bool:
        return not self.quoted and self.text in ("", "~", "null", "Null", "NULL")


@dataclass(frozen=True)
class Mapping:
    items: tuple[tuple[Scalar, Node], ...]  # in file order, keys unique
    line: int


@dataclass(frozen=True)
class Sequence:
    items: tuple[Node, ...]
    line: int


Node = Scalar | Mapping | Sequence

_UNSUPPORTED_START = {
    "&": "anchors (&) are not supported",
    "*": "aliases (*) are not supported",
    "!": "tags (!) are not supported",
    "|": "block scalars (|) are not supported: write the value on one line",
    ">": "block scalars (>) are not supported: write the value on one line",
    "%": "directives (%) are not supported",
    "@": "a plain value cannot start with @: quote it",
    "`": "a plain value cannot start with `: quote it",
    "?": "complex keys (?) are not supported",
}
_DOUBLE_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85",
    "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = re.compile(r"[0-9a-fA-F]+\Z")


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str  # without indentation and comment, right-stripped


def parse(text: str) -> Node | None:
    lines = _lines(text)
    if not lines:
        return None
    node, index = _block(lines, 0, lines[0].indent)
    if index < len(lines):
        line = lines[index]
        raise YamlError(line.number, "bad indentation (or a second top-level value)")
    return node


def _lines(text: str) -> list[_Line]:
    """Meaningful lines: comments, blank lines, a leading '---' and a final '...' dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    result: list[_Line] = []
    started = ended = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.lstrip(" ")
        content = _strip_comment(stripped, number).strip(" \t")
        if not content:
            continue
        if stripped.startswith("\t"):
            raise YamlError(number, "tab in indentation: indent with spaces")
        if ended:
            raise YamlError(number, "content after the end of the document ('...')")
        indent = len(raw) - len(stripped)
        if indent == 0 and content.startswith("---") and content[3:4] in ("", " "):
            if result or started:
                raise YamlError(number, "several YAML documents in one file")
            if content != "---":
                raise YamlError(number, "write the document's content below '---'")
            started = True
            continue
        if indent == 0 and content == "...":
            ended = True
            continue
        result.append(_Line(number, indent, content))
    return result


def _strip_comment(text: str, number: int) -> str:
    """`text` up to a comment: '#' at the start or after a space, outside quotes."""
    quote = None
    index = 0
    while index < len(text):
        char = text[index]
        if quote == '"':
            if char == "\\":
                index += 1
            elif char == '"':
                quote = None
        elif quote == "'":
            if char == "'":
                if text[index + 1: index + 2] == "'":
                    index += 1
                else:
                    quote = None
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index]
        elif char in "\"'" and _quote_may_open(text, index):
            quote = char
        index += 1
    if quote is not None:
        raise YamlError(number, f"unterminated {quote}quoted{quote} value "
                                "(values on several lines are not supported)")
    return text


def _quote_may_open(text: str, index: int) -> bool:
    """A quote opens a quoted scalar only where a key or value starts (so the ' of
    "it's" or of "default-src 'self'" is plain text)."""
    before = text[:index]
    stripped = before.rstrip(" ")
    if not stripped or stripped[-1] in "[{,":
        return True
    spaced = len(stripped) < len(before)
    return spaced and (stripped.endswith(":") or stripped == "-")


def _block(lines: list[_Line], index: int, indent: int) -> tuple[Node, int]:
    if _is_item(lines[index].text):
        return _sequence(lines, index, indent)
    return _mapping(lines, index, indent)


def _is_item(text: str) -> bool:
    return text == "-" or text.startswith("- ")


def _mapping(lines: list[_Line], index: int, indent: int) -> tuple[Mapping, int]:
    start = lines[index].number
    items: list[tuple[Scalar, Node]] = []
    seen: dict[str, int] = {}
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        if _is_item(line.text):
            raise YamlError(line.number, "a list item where a 'key: value' was expected")
        key, rest = _split_key(line)
        if key.text in seen:
            raise YamlError(line.number, f"duplicate key {key.text!r} (first on line "
                                         f"{seen[key.text]})")
        seen[key.text] = line.number
        index += 1
        if rest:
            value: Node = _inline(rest, line.number)
        elif index < len(lines) and lines[index].indent > indent:
            value, index = _block(lines, index, lines[index].indent)
        elif index < len(lines) and lines[index].indent == indent and _is_item(lines[index].text):
            value, index = _sequence(lines, index, indent)
        else:
            value = Scalar("", quoted=False, line=line.number)
        items.append((key, value))
    if index < len(lines) and lines[index].indent > indent:
        raise YamlError(lines[index].number, "bad indentation")
    return Mapping(tuple(items), start), index


def _sequence(lines: list[_Line], index: int, indent: int) -> tuple[Sequence, int]:
    start = lines[index].number
    items: list[Node] = []
    while index < len(lines) and lines[index].indent == indent and _is_item(lines[index].text):
        line = lines[index]
        rest = line.text[1:].lstrip(" \t")
        index += 1
        if rest:
            if _looks_like_key(rest):
                raise YamlError(line.number, "mappings inside list items are not supported")
            items.append(_inline(rest, line.number))
        elif index < len(lines) and lines[index].indent > indent:
            node, index = _block(lines, index, lines[index].indent)
            items.append(node)
        else:
            items.append(Scalar("", quoted=False, line=line.number))
    if index < len(lines) and lines[index].indent > indent:
        raise YamlError(lines[index].number, "bad indentation")
    return Sequence(tuple(items), start), index


def _looks_like_key(text: str) -> bool:
    if text[0] in "\"'":
        try:
            _, end = _quoted(text, 0, 0)
        except YamlError:
            return False
        return text[end:].lstrip(" ").startswith(":")
    return _key_colon(text) >= 0 and text[0] not in "[{"


def _key_colon(text: str) -> int:
    """Index of the ':' ending a plain key (followed by a space or the end), or -1."""
    index = text.find(":")
    while index >= 0:
        if index + 1 == len(text) or text[index + 1] in " \t":
            return index
        index = text.find(":", index + 1)
    return -1


def _split_key(line: _Line) -> tuple[Scalar, str]:
    text = line.text
    if text[0] in "\"'":
        key_text, end = _quoted(text, 0, line.number)
        after = text[end:].lstrip(" \t")
        if not after.startswith(":") or (len(after) > 1 and after[1] not in " \t"):
            raise YamlError(line.number, "expected ':' after the quoted key")
        return Scalar(key_text, quoted=True, line=line.number), after[1:].strip(" \t")
    if text[0] in _UNSUPPORTED_START:
        raise YamlError(line.number, _UNSUPPORTED_START[text[0]])
    if text[0] in "[{":
        raise YamlError(line.number, "flow collections as keys are not supported")
    colon = _key_colon(text)
    if colon < 0:
        raise YamlError(line.number, f"expected 'key: value', got {text!r}")
    key = text[:colon].rstrip(" \t")
    if not key:
        raise YamlError(line.number, "empty key")
    return Scalar(key, quoted=False, line=line.number), text[colon + 1:].strip(" \t")


def _inline(text: str, number: int) -> Node:
    """A value written on the key's (or the dash's) line."""
    first = text[0]
    if first in "\"'":
        value, end = _quoted(text, 0, number)
        if text[end:].strip(" \t"):
            raise YamlError(number, f"unexpected text after the quoted value: {text[end:]!r}")
        return Scalar(value, quoted=True, line=number)
    if first in "[{":
        node, end = _flow(text, 0, number)
        if text[end:].strip(" "):
            raise YamlError(number, f"unexpected text after {first}...: {text[end:]!r}")
        return node
    if _is_item(text):
        raise YamlError(number, "a list item cannot start on the key's line: put it below")
    _check_plain(text, number)
    if _key_colon(text) >= 0:
        raise YamlError(number, "a mapping cannot start on the key's line: put it below, "
                                "or quote the value if it contains ': '")
    return Scalar(text, quoted=False, line=number)


def _check_plain(text: str, number: int) -> None:
    if text[0] in _UNSUPPORTED_START:
        raise YamlError(number, _UNSUPPORTED_START[text[0]])
    if text[0] in "]},":
        raise YamlError(number, f"a plain value cannot start with {text[0]!r}: quote it")


def _quoted(text: str, start: int, number: int) -> tuple[str, int]:
    """The quoted scalar starting at text[start]; returns (value, index after it)."""
    quote = text[start]
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if quote == "'":
            if char == "'":
                if text[index + 1: index + 2] == "'":
                    out.append("'")
                    index += 2
                    continue
                return "".join(out), index + 1
            out.append(char)
            index += 1
            continue
        if char == '"':
            return "".join(out), index + 1
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = text[index + 1: index + 2]
        if code in _DOUBLE_ESCAPES:
            out.append(_DOUBLE_ESCAPES[code])
            index += 2
        elif code in _HEX_ESCAPES:
            digits = text[index + 2: index + 2 + _HEX_ESCAPES[code]]
            if len(digits) != _HEX_ESCAPES[code] or not _HEX.match(digits):
                raise YamlError(number, f"bad escape \\{code}{digits} in a double-quoted value")
            try:
                out.append(chr(int(digits, 16)))
            except (ValueError, OverflowError):
                raise YamlError(number, f"bad escape \\{code}{digits}") from None
            index += 2 + len(digits)
        else:
            raise YamlError(number, f"unknown escape \\{code} in a double-quoted value")
    raise YamlError(number, "unterminated quoted value")


def _flow(text: str, start: int, number: int) -> tuple[Node, int]:
    """[a, b] or {k: v, ...} on one line, nesting allowed; returns (node, index after)."""
    opening = text[start]
    closing = "]" if opening == "[" else "}"
    items: list = []
    seen: set[str] = set()
    index = start + 1
    while True:
        index = _skip_spaces(text, index)
        if index >= len(text):
            raise YamlError(number, f"unterminated {opening}...{closing} "
                                    "(flow collections on several lines are not supported)")
        if text[index] == closing:
            break
        if opening == "[":
            value, index = _flow_value(text, index, number, "]")
            items.append(value)
        else:
            key, index = _flow_value(text, index, number, "}", key=True)
            if not isinstance(key, Scalar):
                raise YamlError(number, "flow collections as keys are not supported")
            if key.text in seen:
                raise YamlError(number, f"duplicate key {key.text!r}")
            seen.add(key.text)
            index = _skip_spaces(text, index)
            if text[index: index + 1] != ":":
                raise YamlError(number, f"expected ':' after {key.text!r} in {{...}}")
            value, index = _flow_value(text, _skip_spaces(text, index + 1), number, "}")
            items.append((key, value))
        index = _skip_spaces(text, index)
        if text[index: index + 1] == ",":
            index += 1
        elif text[index: index + 1] != closing:
            raise YamlError(number, f"expected ',' or {closing!r} in {opening}...{closing}")
    node = Sequence(tuple(items), number) if opening == "[" else Mapping(tuple(items), number)
    return node, index + 1


def _flow_value(text: str, index: int, number: int, closing: str,
                key: bool = False) -> tuple[Node, int]:
    if index >= len(text):
        raise YamlError(number, "unterminated flow collection")
    char = text[index]
    if char in "\"'":
        value, end = _quoted(text, index, number)
        return Scalar(value, quoted=True, line=number), end
    if char in "[{":
        return _flow(text, index, number)
    end = index
    while end < len(text) and text[end] not in ",[]{}":
        if text[end] == ":" and (end + 1 == len(text) or text[end + 1] in " ,]}"):
            if key:
                break
            raise YamlError(number, "unexpected ':' in a flow value: quote it")
        end += 1
    plain = text[index:end].rstrip(" ")
    if plain:
        _check_plain(plain, number)
    return Scalar(plain, quoted=False, line=number), end


def _skip_spaces(text: str, index: int) -> int:
    while index < len(text) and text[index] == " ":
        index += 1
    return index
