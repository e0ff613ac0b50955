"""Where each table and key of a TOML text is: tomllib parses, but keeps no line numbers.

``locate(text)`` maps paths to 1-based line numbers. A path is a tuple of keys, with the
index of an element of an array of tables or of an inline array:

    [ipvs]                      ("ipvs",) -> 1
    interval = 5                ("ipvs", "interval") -> 2
    [[vrrp.instance]]           ("vrrp", "instance", 0) -> 3
    vips = ["10.0.0.1",         ("vrrp", "instance", 0, "vips") -> 4, (..., "vips", 0) -> 4
            "10.0.0.2"]         (..., "vips", 1) -> 5
    [[vrrp.instance.track]]     ("vrrp", "instance", 0, "track", 0) -> 6
    x = { a = 1,                keys of inline tables too: (..., "x", "a")
          b = 2 }

The scanner expects text that tomllib has accepted: it skips strings and comments and
follows brackets, but does not check the grammar again.
"""

from __future__ import annotations

import tomllib

Path = tuple  # of str keys and int indexes

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def locate(text: str) -> dict[Path, int]:
    """Line of every table header, key and array element found in `text` (valid TOML)."""
    scanner = _Scanner(text)
    scanner.document()
    return scanner.lines


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Path, int] = {}
        self.arrays: dict[Path, int] = {}  # array-of-tables path -> elements so far

    # -- characters ------------------------------------------------------------

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def advance(self, count: int = 1) -> None:
        self.line += self.text.count("\n", self.pos, self.pos + count)
        self.pos += count

    def skip_blank(self, newlines: bool) -> None:
        """Spaces and comments, and line ends too when `newlines`."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self.advance()
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                return

    # -- statements ------------------------------------------------------------

    def document(self) -> None:
        table: Path = ()
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)

    def header(self) -> Path:
        line = self.line
        array = self.peek(1) == "["
        self.advance(2 if array else 1)
        keys = self.key()
        self.skip_blank(newlines=False)
        self.advance(2 if array else 1)
        path = self.resolve(keys[:-1] if array else keys)
        if array:
            path = path + (keys[-1],)
            index = self.arrays.get(path, 0)
            self.arrays[path] = index + 1
            self.mark(path, line)
            path = path + (index,)
        self.mark(path, line)
        self.lines[path] = line  # a header is where its table is, even if named before
        return path

    def resolve(self, keys: tuple[str, ...]) -> Path:
        """A header's keys with the current element of each array of tables they pass."""
        path: Path = ()
        for key in keys:
            path = path + (key,)
            count = self.arrays.get(path)
            if count:
                path = path + (count - 1,)
        return path

    def key_value(self, table: Path) -> None:
        line = self.line
        path = table + self.key()
        self.mark(path, line)
        self.skip_blank(newlines=False)
        self.advance()  # "="
        self.value(path)

    def mark(self, path: Path, line: int) -> None:
        """The line of `path` and, unless known already, of the tables it implies."""
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], line)

    # -- keys and values -------------------------------------------------------

    def key(self) -> tuple[str, ...]:
        keys = []
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in "\"'":
                start = self.pos
                self.string()
                keys.append(tomllib.loads("k = " + self.text[start : self.pos])["k"])
            else:
                start = self.pos
                while self.peek() in _BARE:
                    self.advance()
                keys.append(self.text[start : self.pos])
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return tuple(keys)
            self.advance()

    def value(self, path: Path) -> None:
        self.skip_blank(newlines=False)
        char = self.peek()
        if char in "\"'":
            self.string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:  # number, bool, date: ends at a separator, a line end or a comment
            while self.pos < len(self.text) and self.text[self.pos] not in ",]}\n#":
                self.advance()

    def array(self, path: Path) -> None:
        self.advance()  # "["
        index = 0
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "]":
                self.advance()
                return
            self.lines.setdefault(path + (index,), self.line)
            self.value(path + (index,))
            self.skip_blank(newlines=True)
            if self.peek() == ",":
                self.advance()
                index += 1

    def inline_table(self, path: Path) -> None:
        self.advance()  # "{"
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "}":
                self.advance()
                return
            if self.peek() == ",":
                self.advance()
                continue
            self.key_value(path)

    def string(self) -> None:
        quote = self.peek()
        basic = quote == '"'
        triple = self.text.startswith(quote * 3, self.pos)
        index = self.pos + (3 if triple else 1)
        while True:
            if basic and self.text[index] == "\\":
                index += 2
            elif triple and self.text.startswith(quote * 3, index):
                # The content may end in one or two quotes right before the delimiter.
                while self.text.startswith(quote, index + 3):
                    index += 1
                index += 3
                break
            elif not triple and self.text[index] == quote:
                index += 1
                break
            else:
                index += 1
        self.advance(index - self.pos)
