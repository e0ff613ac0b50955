"""lvsmon.toml_lines: the line of every table, key and array element of a TOML text."""

from __future__ import annotations

import json
import tomllib

from hypothesis import given, settings
from hypothesis import strategies as st

from lvsmon.toml_lines import locate

TRICKY = """\
# a comment with = and [brackets] and "quotes"
top = 1
[ipvs]
interval = 5  # seconds ] } "
"quoted.key" = 'a # not a comment'
'literal key' = "with \\" escaped quote and # hash"
[[vrrp.instance]]
name = "web"
vips = [ "10.0.0.1",  # first
         "10.0.0.2", ]
notify = '''
[not.a.table]
key = "not a key"
'''
text = \"\"\"ends with quotes\"\"\"\"\"
[[vrrp.instance.track]]
name = "t1"
[[vrrp.instance.track]]
name = "t2"
[[vrrp.instance]]
name = "second"
[[vrrp.instance.track]]
x = { a = 1, b = [ {c = 2}, {d = 3} ], "e f" = { g = 4 } }
[ exporter ]
a.b . c = 1979-05-27T07:32:00Z
listen = [
  ":1",

  "[::1]:2",
]
nested = [[1, 2], [3,
  4]]
"""


def test_tricky_document():
    tomllib.loads(TRICKY)  # valid TOML first
    lines = locate(TRICKY)
    expected = {
        ("top",): 2,
        ("ipvs",): 3,
        ("ipvs", "interval"): 4,
        ("ipvs", "quoted.key"): 5,
        ("ipvs", "literal key"): 6,
        ("vrrp",): 7,
        ("vrrp", "instance"): 7,
        ("vrrp", "instance", 0): 7,
        ("vrrp", "instance", 0, "name"): 8,
        ("vrrp", "instance", 0, "vips"): 9,
        ("vrrp", "instance", 0, "vips", 0): 9,
        ("vrrp", "instance", 0, "vips", 1): 10,
        ("vrrp", "instance", 0, "notify"): 11,
        ("vrrp", "instance", 0, "text"): 15,
        ("vrrp", "instance", 0, "track", 0): 16,
        ("vrrp", "instance", 0, "track", 0, "name"): 17,
        ("vrrp", "instance", 0, "track", 1): 18,
        ("vrrp", "instance", 0, "track", 1, "name"): 19,
        ("vrrp", "instance", 1): 20,
        ("vrrp", "instance", 1, "name"): 21,
        ("vrrp", "instance", 1, "track", 0): 22,
        ("vrrp", "instance", 1, "track", 0, "x", "a"): 23,
        ("vrrp", "instance", 1, "track", 0, "x", "b", 1, "d"): 23,
        ("vrrp", "instance", 1, "track", 0, "x", "e f", "g"): 23,
        ("exporter",): 24,
        ("exporter", "a", "b", "c"): 25,
        ("exporter", "listen"): 26,
        ("exporter", "listen", 0): 27,
        ("exporter", "listen", 1): 29,
        ("exporter", "nested", 1, 1): 32,
    }
    assert {path: lines.get(path) for path in expected} == expected
    assert ("not", "a", "table") not in lines and ("vrrp", "instance", 0, "key") not in lines


# Strings that could confuse a scanner: quotes, comment and bracket characters, escapes.
_TEXT = st.text(alphabet=st.sampled_from(list("ab #=[]{}'\",\\\n")), max_size=12)


def _written(value: str, style: int) -> str:
    if style == 0 or "'" in value or "\n" in value and style == 1:
        return json.dumps(value)  # a basic string, escapes for the hard characters
    if style == 1:
        return f"'{value}'"
    if "'''" in value or value.endswith("'"):
        return json.dumps(value)
    return f"'''{value}'''"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.integers(0, 2), st.booleans()), min_size=1, max_size=8))
def test_every_key_found_whatever_the_strings_hold(values):
    parts = ["[t]"]
    for number, (value, style, in_array) in enumerate(values):
        written = _written(value, style)
        if in_array:  # a multi-line array with a comment inside
            written = f"[ {written}, # c ] = '\n {written} ]"
        parts.append(f"k{number} = {written}  # k{number} = ' \"")
    text = "\n".join(parts) + "\n"
    assert len(tomllib.loads(text)["t"]) == len(values)
    # Where each key really is: no string above can hold a "k" (not in the alphabet).
    real = {("t", line.partition(" = ")[0]): number
            for number, line in enumerate(text.splitlines(), 1) if line.startswith("k")}
    lines = locate(text)
    assert {path: lines.get(path) for path in real} == real
