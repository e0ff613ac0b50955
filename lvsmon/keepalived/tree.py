"""keepalived.conf as a tree of statements: a keyword line and the { } block after it.

keepalived opens a keyword's block with the ``{`` that comes next (on the same
line or a later one) and closes it with the matching ``}``; blocks may open in
one file and close in an included one. A ``}`` that closes nothing and a block
left open at the end are errors that name the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lvsmon.errors import KeepalivedConfigError
from lvsmon.keepalived import lexer
from lvsmon.keepalived.reader import Line, Where


@dataclass(frozen=True, slots=True)
class Statement:
    words: tuple[str, ...]
    where: Where
    block: tuple[Statement, ...] | None = None  # None: no { } after it

    @property
    def keyword(self) -> str:
        return self.words[0]

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]


class _Open:
    def __init__(self, head: Statement | None):
        self.head = head
        self.children: list[Statement] = []


def build_tree(lines: Iterable[Line]) -> tuple[Statement, ...]:
    stack = [_Open(None)]
    for line in lines:
        level = stack[-1]
        if line.text == "{":
            if not level.children or level.children[-1].block is not None:
                raise _error(line.where, "'{' with no keyword before it",
                             "put the keyword that opens this block before the {")  # fmt: skip
            stack.append(_Open(level.children.pop()))
            continue
        if line.text == "}":
            if len(stack) == 1:
                raise _error(line.where, "'}' closes no block", "remove it or add the '{'")
            done = stack.pop()
            assert done.head is not None
            closed = Statement(done.head.words, done.head.where, tuple(done.children))
            stack[-1].children.append(closed)
            continue
        words, closed_quotes = lexer.split_words(line.text)
        if not closed_quotes:
            raise _error(line.where, "unterminated quote", 'close the " on this line')
        if words:
            level.children.append(Statement(words, line.where))
    if len(stack) > 1:
        head = stack[-1].head
        assert head is not None
        raise _error(head.where, f"the block of '{head.keyword}' is never closed",
                     "add the missing '}'")  # fmt: skip
    return tuple(stack[0].children)


def _error(where: Where, why: str, hint: str) -> KeepalivedConfigError:
    return KeepalivedConfigError(where.file, where.line, why, hint)
