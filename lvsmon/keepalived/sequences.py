"""keepalived.conf ``~SEQ`` and ``~LST`` lines: one line repeated with a definition stepping.

Facts from keepalived 2.2's parser:

- ``~SEQ(NAME, END)``, ``~SEQ(NAME, START, END)``, ``~SEQ(NAME, START, STEP, END)``
  then the line text: the text is read once per value, with ``$NAME`` defined as
  the value. One number counts from 1 (or -1) towards END; two count by 1 either
  way; STEP must point from START to END. Numbers are C integers (``0x`` hex,
  leading ``0`` octal) and may be definitions. ``~SEQx`` gives the values in hex
  (for IPv6 addresses), positive numbers only.
- ``~LST(NAME, V1, V2, ...)`` or ``~LST({N1, N2}, {V1, V2}, {V3, V4}, ...)``: one line
  per value (set); missing values are empty.
- The repeated text may be a ``~SEQ``/``~LST`` itself, a conditional or an include.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lvsmon.keepalived.definitions import Definitions, ExpansionError

_C_LONG = 2**63
_PARAMS_BUFFER = 64  # keepalived's buffer for the numbers of a ~SEQ, with its NUL


class SequenceError(ValueError):
    """A ~SEQ / ~LST line keepalived does not accept."""


def parse_seq(text: str, definitions: Definitions) -> tuple[str, Iterator[str], str]:
    """(name, its values as text, the line to repeat) of a ``~SEQ`` line."""
    p = 4
    hexadecimal = text[p : p + 1] == "x"
    p += hexadecimal
    p = _skip_blanks(text, p)
    if text[p : p + 1] != "(":
        raise SequenceError("~SEQ needs ( after it")
    p = _skip_blanks(text, p + 1)
    start = p
    while p < len(text) and text[p] not in " \t,)":
        p += 1
    name = text[start:p]
    p = _skip_blanks(text, p)
    if not name or p >= len(text) or text[p] == ")":
        raise SequenceError("~SEQ needs a definition name and at least one number")
    p = _skip_blanks(text, p + 1)  # keepalived steps over the separator, whatever it is
    close = text.find(")", p)
    if close < 0:
        raise SequenceError("~SEQ has no closing )")
    params = text[p : close + 1]
    if len(params) + 1 > _PARAMS_BUFFER:
        raise SequenceError("~SEQ numbers are too long")
    try:
        params, _, pending = definitions.substitute(params)
    except ExpansionError as exc:
        raise SequenceError(f"~SEQ numbers: {exc}") from None
    if pending:
        raise SequenceError("~SEQ numbers use a multi-line definition")
    if len(params) + 1 > _PARAMS_BUFFER:
        raise SequenceError("~SEQ numbers are too long once definitions are replaced")
    first, step, last = _seq_numbers(params)
    if hexadecimal and (first < 0 or last < 0):
        raise SequenceError("~SEQx takes positive numbers only")
    body = text[_skip_blanks(text, close + 1) :]
    return name, _counting(first, step, last, hexadecimal), body


def _seq_numbers(params: str) -> tuple[int, int, int]:
    numbers = []
    p = 0
    while True:
        number, p = _strtol(params, p)
        numbers.append(number)
        p = _skip_blanks(params, p)
        if params[p : p + 1] == ")":
            break
        if params[p : p + 1] != "," or len(numbers) == 3:
            raise SequenceError("~SEQ numbers must be separated by , and end with )")
        p += 1
    if len(numbers) == 1:
        last = numbers[0]
        return (-1 if last < 0 else 1), (-1 if last < 1 else 1), last
    if len(numbers) == 2:
        first, last = numbers
        return first, (1 if first <= last else -1), last
    first, step, last = numbers
    if step == 0 or (first < last and step < 0) or (first > last and step > 0):
        raise SequenceError("~SEQ step does not lead from the start to the end")
    return first, step, last


def _counting(first: int, step: int, last: int, hexadecimal: bool) -> Iterator[str]:
    value = first
    while True:
        yield format(value % 2**64, "x") if hexadecimal else str(value)
        value += step
        if (step > 0 and value > last) or (step < 0 and value < last):
            return


def parse_lst(text: str) -> tuple[tuple[str, ...], Iterator[tuple[str, ...]], str]:
    """(names, their value sets, the line to repeat) of a ``~LST`` line."""
    p = _skip_blanks(text, 4)
    if text[p : p + 1] != "(":
        raise SequenceError("~LST needs ( after it")
    p = _skip_blanks(text, p + 1)
    names, p = _lst_group(text, p, " \t,}", counted=None)
    if text[p : p + 1] != ",":
        raise SequenceError("~LST names must be followed by , and values")
    p = _skip_blanks(text, p + 1)
    sets = []
    while True:
        values, p = _lst_group(text, p, " \t,})", counted=len(names))
        sets.append(values + ("",) * (len(names) - len(values)))
        if text[p : p + 1] == ")":
            break
        if text[p : p + 1] != ",":
            raise SequenceError("~LST values must be separated by , and end with )")
        p = _skip_blanks(text, p + 1)
    body = text[_skip_blanks(text, p + 1) :]
    return names, iter(sets), body


def _lst_group(text: str, p: int, stops: str, counted: int | None) -> tuple[tuple[str, ...], int]:
    """One name or value, or a {braced, list} of them; returns them and where reading stopped."""
    braced = text[p : p + 1] == "{"
    if braced:
        p = _skip_blanks(text, p + 1)
    items = []
    while True:
        start = p
        while p < len(text) and text[p] not in stops:
            p += 1
        items.append(text[start:p])
        p = _skip_blanks(text, p)
        here = text[p : p + 1]
        if (braced and here == "}") or (not braced and here in (",", ")")):
            break
        if not braced or here != ",":
            raise SequenceError("~LST lists are {A, B} or single words separated by ,")
        p = _skip_blanks(text, p + 1)
        if counted is not None and len(items) >= counted:
            raise SequenceError("~LST has more values than names")
    if braced:
        p = _skip_blanks(text, p + 1)
    return tuple(items), p


def _skip_blanks(text: str, p: int) -> int:
    while p < len(text) and text[p] in " \t":
        p += 1
    return p


_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def _strtol(text: str, p: int) -> tuple[int, int]:
    """C's strtol(text + p, &end, 0): (value clamped to a long, end); no digits -> (0, p)."""
    match = _STRTOL.match(text, p)
    if match is None:
        return 0, p
    digits = match.group(2)
    if digits[:2].lower() == "0x":
        value = int(digits[2:], 16)
    elif digits.startswith("0"):
        value = int(digits, 8)
    else:
        value = int(digits)
    if match.group(1) == "-":
        value = -value
    return max(-_C_LONG, min(_C_LONG - 1, value)), match.end()
