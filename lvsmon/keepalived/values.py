"""Reading one keyword's values, with keepalived's rules, into checked Python values.

A value keepalived would refuse or correct is an error here, naming the file and
line: lvsmon reports what keepalived runs, and a value it cannot read is not that.
"""

from __future__ import annotations

import re
from collections import Counter

from lvsmon.errors import KeepalivedConfigError, UsageError
from lvsmon.ipvs import parse_real_server
from lvsmon.keepalived.lexer import WHITE_SPACE
from lvsmon.keepalived.tree import Statement
from lvsmon.model.addresses import join_host_port

UINT_MAX = 2**32 - 1
INT32_MAX = 2**31 - 1
_UNSIGNED = re.compile(r"\+?[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?")
TRUE_WORDS = ("true", "on", "yes")
FALSE_WORDS = ("false", "off", "no")


class Notes:
    """What a read leaves beside the model: warnings and the keywords it skipped."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.skipped: Counter[str] = Counter()

    def warn(self, statement: Statement, text: str) -> None:
        self.warnings.append(f"{statement.where}: {text}")

    def skip(self, path: str) -> None:
        self.skipped[path] += 1


def error(statement: Statement, why: str, hint: str) -> KeepalivedConfigError:
    return KeepalivedConfigError(statement.where.file, statement.where.line, why, hint)


def arg(statement: Statement, index: int, what: str) -> str:
    if len(statement.words) <= index:
        placeholder = what.upper().replace(" ", "_")
        raise error(statement, f"{statement.keyword} needs {what}",
                    f"write it as `{statement.keyword} {placeholder}`")  # fmt: skip
    return statement.words[index]


def unsigned(statement: Statement, index: int, low: int, high: int, what: str) -> int:
    return whole(statement, arg(statement, index, what), low, high)


def whole(statement: Statement, text: str, low: int, high: int, what: str = "") -> int:
    """keepalived's read_unsigned: leading blanks, an optional +, digits, in range."""
    stripped = text.lstrip(WHITE_SPACE)
    if not _UNSIGNED.fullmatch(stripped) or not low <= int(stripped) <= high:
        named = f"{statement.keyword} {what}" if what else statement.keyword
        raise error(statement, f"{named}: {text!r} is not valid",
                    f"use a whole number in {low}..{high}")  # fmt: skip
    return int(stripped)


def signed(statement: Statement, index: int, low: int, high: int, what: str) -> int:
    text = arg(statement, index, what)
    if not _SIGNED.fullmatch(text) or not low <= int(text) <= high:
        raise error(statement, f"{statement.keyword} {text!r} is not valid",
                    f"use a whole number in {low}..{high}")  # fmt: skip
    return int(text)


def decimal(statement: Statement, index: int, places: int, low: int, high: int, what: str) -> int:
    """A decimal such as 0.5, as an integer count of 10**-places (keepalived's timers)."""
    text = arg(statement, index, what)
    match = _DECIMAL.fullmatch(text)
    fraction = (match["fraction"] or "") if match else ""
    if not match or not (match["whole"] or fraction) or len(fraction) > places:
        raise error(statement, f"{statement.keyword} {text!r} is not valid",
                    f"use a number with at most {places} decimal places")  # fmt: skip
    value = int(match["whole"] or "0") * 10**places + int(fraction.ljust(places, "0") or "0")
    if not low <= value <= high:
        scale = 10**places
        raise error(statement, f"{statement.keyword} {text} is out of range",
                    f"use {low / scale:g}..{high / scale:g}")  # fmt: skip
    return value


def port(statement: Statement, text: str | None) -> int:
    """keepalived's ports: none or all zeros mean 0, else 1..65535."""
    if text is None or text.strip("0") == "":
        return 0
    stripped = text.lstrip(WHITE_SPACE)
    if not _UNSIGNED.fullmatch(stripped) or not 1 <= int(stripped) <= 65535:
        raise error(statement, f"port {text!r} is not valid", "use a port in 1..65535")
    return int(stripped)


def address(statement: Statement, text: str) -> str:
    """A numeric IPv4 or IPv6 address, normalised as lvsmon.ipvs.parse_real_server does."""
    try:
        return parse_real_server(join_host_port(text, 0))[0]
    except UsageError:
        raise error(statement, f"{text!r} is not an IP address",
                    "keepalived takes numeric IPv4 or IPv6 addresses here") from None


def family_of(text: str) -> str:
    """keepalived decides the family by whether the text has a colon."""
    return "inet6" if ":" in text else "inet"


def boolean(statement: Statement, index: int, default: bool = True) -> bool:
    if len(statement.words) <= index:
        return default
    word = statement.words[index]
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise error(statement, f"{statement.keyword} {word!r} is not valid",
                "use true/false, on/off or yes/no")  # fmt: skip


def block(statement: Statement) -> tuple[Statement, ...]:
    if statement.block is None:
        raise error(statement, f"{statement.keyword} needs a {{ }} block",
                    f"write `{statement.keyword} {{` and close it with `}}`")  # fmt: skip
    return statement.block
