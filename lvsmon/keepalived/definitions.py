"""keepalived.conf definitions: ``$NAME=value`` lines and ``$NAME`` / ``${NAME}`` in text.

Facts from keepalived 2.2's parser:

- A definition line is ``$NAME=value``: NAME starts with a letter or ``_`` and
  has letters, digits and ``_``; ``=`` follows at once; blanks after it go. A
  value ending in ``\\`` continues on the next lines (each continued line ending
  in ``\\`` too) and makes a multi-line definition; an empty line ends it.
- ``$NAME`` is replaced when followed by a blank, ``,``, ``)`` or the line end
  (so ``$NAME:80`` is not: write ``${NAME}:80``); unknown names stay as written.
  Replacement text is looked at again, so definitions may use definitions.
- A multi-line definition is used only at the end of a line: its first line
  replaces the reference and its other lines are read as the next lines.
- Built in: ``$_PWD`` (the directory of the file being read), ``$_INSTANCE``
  (the config id), ``${_RANDOM [MIN [MAX]]}`` (0..32767 by default), ``$_HASH``
  (#) and ``$_BANG`` (!); a definition of the same name replaces them.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

NAME_START = frozenset(string.ascii_letters + "_")
NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_")
REFERENCE_ENDS = " \t,)"
MAX_LINE = 64 * 1024  # a line that grows past this expands without end
MAX_REPLACEMENTS = 10_000  # per line


class ExpansionError(ValueError):
    """A line's definitions do not come to an end."""


@dataclass
class Definition:
    value: str
    multiline: bool = False
    builtin: Callable[[str | None], str] | None = None  # params text -> value
    takes_params: bool = False

    def text(self, params: str | None) -> str:
        return self.value if self.builtin is None else self.builtin(params)


def parse_definition(text: str) -> tuple[str, str, bool] | None:
    """(name, value, multi-line) if the line defines something, else None."""
    if len(text) < 2 or text[0] != "$" or text[1] not in NAME_START:
        return None
    equals = text.find("=", 2)
    if equals < 0 or any(c not in NAME_CHARS for c in text[2:equals]):
        return None
    value = text[equals + 1 :].lstrip(" \t")
    if not value.endswith("\\"):
        return text[1:equals], value, False
    head = value[:-1].rstrip(" \t")
    return text[1:equals], (head + "\n" if head else ""), True


class Definitions:
    """The definitions in force while a file is read, in keepalived's order."""

    def __init__(self, config_id: str, directory: Callable[[], str]):
        self._defs: dict[str, Definition] = {
            "_PWD": Definition("", builtin=lambda _: directory()),
            "_INSTANCE": Definition(config_id),
            "_RANDOM": Definition("", builtin=_random, takes_params=True),
            "_HASH": Definition("#"),
            "_BANG": Definition("!"),
        }

    def define(self, name: str, value: str, multiline: bool = False) -> Definition:
        definition = Definition(value, multiline)
        self._defs[name] = definition
        return definition

    def get(self, name: str) -> Definition | None:
        return self._defs.get(name)

    def substitute(self, text: str) -> tuple[str, bool, list[list[str]]]:
        """(text with references replaced, whether any was, the further lines to read).

        Further lines come from multi-line definitions; the last list is read first.
        """
        pending: list[list[str]] = []
        found = False
        position = 0
        replacements = 0
        while True:
            dollar = text.find("$", position)
            if dollar < 0 or dollar + 1 >= len(text):
                return text, found, pending
            match = self._reference(text, dollar + 1)
            if match is None:
                position = dollar + 1
                continue
            definition, end, params = match
            replacements += 1
            if replacements > MAX_REPLACEMENTS:
                raise ExpansionError("definitions expand without end")
            value = definition.text(params)
            found = True
            if definition.multiline:
                first, newline, rest = value.partition("\n")
                if newline:
                    pending.append(rest.split("\n"))
                value_here = first
            else:
                value_here = value
            text = text[:dollar] + value_here + text[end:]
            position = dollar  # the replacement is looked at again
            if len(text) > MAX_LINE:
                raise ExpansionError(f"a line grows past {MAX_LINE} characters")
            if value.lstrip(" \t").startswith("~"):
                return text, found, pending  # keepalived stops at a ~SEQ/~LST value

    def _reference(self, text: str, start: int) -> tuple[Definition, int, str | None] | None:
        """The definition referred to at text[start:] (just after ``$``), where it ends."""
        braces = text[start] == "{"
        name_start = start + 1 if braces else start
        if name_start >= len(text) or text[name_start] not in NAME_START:
            return None
        end = name_start + 1
        while end < len(text) and text[end] in NAME_CHARS:
            end += 1
        name = text[name_start:end]
        params = None
        if braces:
            after = end
            while after < len(text) and (text[after] == " " or text[after] in string.digits):
                after += 1
            params = text[end:after].strip(" ") or None
            if params is not None and text[after - 1] == " ":
                return None
            if after >= len(text) or text[after] != "}":
                return None
            reference_end = after + 1
            at_line_end = after == end and reference_end == len(text)
        else:
            if end < len(text) and text[end] not in REFERENCE_ENDS:
                return None
            reference_end = end
            at_line_end = end == len(text)
        definition = self._defs.get(name)
        if definition is None or (definition.multiline and not at_line_end):
            return None
        if params is not None and not definition.takes_params:
            return None
        return definition, reference_end, params


def _random(params: str | None) -> str:
    low, high = 0, 32767
    numbers = [int(n) for n in (params or "").split()]
    if numbers:
        low = numbers[0]
    if len(numbers) > 1:
        high = numbers[1]
    if high < low:
        low, high = high, low
    return str(random.randint(low, high))  # noqa: S311 - keepalived's $_RANDOM, not a secret
