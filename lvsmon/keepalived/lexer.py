"""keepalived.conf lines and words, as keepalived 2.2's lib/parser.c cuts them.

Pure functions on text, no files: comments, words and quotes, where a line splits
at a brace, which lines are includes. The rules (facts read in keepalived's
parser, written anew here):

- Leading spaces and tabs go. An unquoted ``#`` or ``!`` starts a comment;
  ``\\#`` and ``\\!`` outside quotes are the characters themselves; any other
  backslash keeps the next character from being looked at. A backslash at the
  very end marks a continued definition and stays, after trailing blanks go.
- Words are split at blanks; a word starting with ``"`` runs to the next ``"``
  (no escapes) and loses its quotes; an unquoted ``"`` also ends a word.
- Every unquoted ``{`` or ``}`` ends up on a line of its own: the text before it
  is one line, the brace and what follows are read as the next lines.
"""

from __future__ import annotations

WHITE_SPACE = " \t\f\n\r\v"
BLANKS = " \t"
INCLUDE_KINDS = "rmwba"  # includer, includem, includew, includeb, includea


def decomment(line: str) -> tuple[str, bool]:
    """(line without comment and surrounding blanks, whether every quote was closed)."""
    text = line.lstrip(BLANKS)
    out: list[str] = []
    quoted = False
    comment_at: int | None = None
    continued = False
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            if i + 1 == n:
                continued = True
                break
            following = text[i + 1]
            if not quoted and following in "#!":
                out.append(following)  # an escaped comment character is itself
            else:
                out.append(char)
                out.append(following)
            i += 2
            continue
        if char == '"':
            if comment_at is None:
                quoted = not quoted
        elif char in "#!" and not quoted and comment_at is None:
            comment_at = len(out)
        out.append(char)
        i += 1
    if comment_at is not None:
        del out[comment_at:]
    result = "".join(out).rstrip(BLANKS)
    if continued:
        result += "\\"
    return result, not quoted


def split_words(text: str) -> tuple[tuple[str, ...], bool]:
    """(words, whether every quote was closed); an unclosed quote ends the words there."""
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in WHITE_SPACE:
            i += 1
        if i >= n:
            return tuple(words), True
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return tuple(words), False
            words.append(text[i + 1 : end])
            i = end + 1
            continue
        start = i
        while i < n and text[i] not in WHITE_SPACE and text[i] != '"':
            i += 1
        words.append(text[start:i])


def split_brace(text: str) -> tuple[str, str | None]:
    """(this line, the rest to read as the next line or None) at the first unquoted brace."""
    if not text:
        return text, None
    if text[0] in "{}":
        rest = text[1:].strip(BLANKS)
        return text[0], rest or None
    i = 0
    while True:
        found = _find_any(text, '{}"', i)
        if found < 0:
            return text.rstrip(BLANKS), None
        if text[found] == '"':
            close = text.find('"', found + 1)
            if close < 0:
                return text.rstrip(BLANKS), None
            i = close + 1
            continue
        return text[:found].rstrip(BLANKS), text[found:].rstrip(BLANKS)


def _find_any(text: str, chars: str, start: int) -> int:
    for i in range(start, len(text)):
        if text[i] in chars:
            return i
    return -1


def include_pattern(text: str) -> tuple[str, str] | None:
    """("" or the include letter r/m/w/b/a, the glob pattern) if the line is an include."""
    if not text.startswith("include") or len(text) < 8:
        return None
    if text[7] in WHITE_SPACE:
        return "", text[8:].lstrip(BLANKS)
    if text[7] in INCLUDE_KINDS and len(text) > 8 and text[8] in WHITE_SPACE:
        return text[7], text[9:].lstrip(BLANKS)
    return None


def conditional(text: str, config_id: str) -> str | None:
    """An ``@id`` / ``@^id`` line: the rest if it applies to `config_id`, else None."""
    negated = text.startswith("@^")
    start = 2 if negated else 1
    end = _find_any(text, BLANKS, start)
    if end < 0:
        return None  # nothing after the id: keepalived drops the line
    if (text[start:end] == config_id) == negated:
        return None
    return text[end:].lstrip(BLANKS)
