"""The strict YAML subset read for web-config files: what it accepts, and the line of every
refusal."""

from __future__ import annotations

import pytest

from lvsmon_exporter.yaml_subset import Mapping, Scalar, Sequence, YamlError, parse


def plain(node):
    """Nodes as plain Python values, for comparisons."""
    if isinstance(node, Scalar):
        return node.text
    if isinstance(node, Sequence):
        return [plain(item) for item in node.items]
    if isinstance(node, Mapping):
        return {key.text: plain(value) for key, value in node.items}
    return node


def test_a_toolkit_style_file():
    text = """\
# TLS and basic authentication.
---
tls_server_config:
  cert_file: server.crt   # trailing comment
  key_file: "server key.pem"
  client_auth_type: 'RequireAndVerifyClientCert'

http_server_config:
    headers:
      Content-Security-Policy: default-src 'self'; frame-ancestors 'none'
      X-Frame-Options: deny
basic_auth_users:
  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze
  "bob smith": $2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m
basic_auth_excluded_paths:
- /-/healthy
- '/-/ready'
...
"""
    assert plain(parse(text)) == {
        "tls_server_config": {"cert_file": "server.crt", "key_file": "server key.pem",
                              "client_auth_type": "RequireAndVerifyClientCert"},
        "http_server_config": {"headers": {
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
            "X-Frame-Options": "deny"}},
        "basic_auth_users": {
            "alice": "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze",
            "bob smith": "$2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m"},
        "basic_auth_excluded_paths": ["/-/healthy", "/-/ready"],
    }  # fmt: skip


def test_lines_quotes_and_nulls_are_kept():
    root = parse("a: 'it''s'\nb: \"tab\\tq\\\"\\u00e9\\x41\"\nc:\nd: ~\ne: '#not a comment'\n"
                 "f: a#b\ng: [x, 'y z', {k: v}]\nh: {}\ni: []\n")
    values = dict((key.text, value) for key, value in root.items)
    assert values["a"] == Scalar("it's", quoted=True, line=1)
    assert values["b"].text == 'tab\tq"éA'
    assert values["c"].is_null and values["d"].is_null and not values["e"].is_null
    assert values["e"].text == "#not a comment" and values["f"].text == "a#b"
    assert plain(values["g"]) == ["x", "y z", {"k": "v"}]
    assert plain(values["h"]) == {} and plain(values["i"]) == []
    assert Scalar("null", quoted=True, line=1).is_null is False


def test_a_tab_may_separate_key_and_value():
    assert plain(parse("a:\tb\n'c':\t'd'\n-\tx\n".replace("-\tx\n", ""))) == {"a": "b",
                                                                                "c": "d"}


def test_empty_documents():
    assert parse("") is None
    assert parse("# only a comment\n\n---\n") is None
    assert parse("\ufeffa: 1\n").items[0][0].text == "a"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first on line 1)"),
    ("a:\n\tb: 1\n", 2, "tab in indentation"),
    ("a: &anchor 1\n", 1, "anchors"),
    ("a: *alias\n", 1, "aliases"),
    ("a: !!str 1\n", 1, "tags"),
    ("a: |\n  text\n", 1, "block scalars"),
    ("a: >\n  text\n", 1, "block scalars"),
    ("? a\n: b\n", 1, "complex keys"),
    ("a: b: c\n", 1, "a mapping cannot start on the key's line"),
    ("a: 'open\n", 1, "unterminated"),
    ('a: "open\n', 1, "unterminated"),
    ('a: "bad \\q"\n', 1, "unknown escape \\q"),
    ('a: "bad \\x4"\n', 1, "bad escape"),
    ("a: 1\n---\nb: 2\n", 2, "several YAML documents"),
    ("--- a: 1\n", 1, "below '---'"),
    ("a: 1\n...\nb: 2\n", 3, "after the end of the document"),
    ("a:\n  - b: 1\n", 2, "mappings inside list items"),
    ("a: [1, 2\n", 1, "expected ',' or ']'"),
    ("a: {b: 1\n", 1, "expected ',' or '}'"),
    ("a: {b: 1,\n", 1, "unterminated"),
    ("a: {b 1}\n", 1, "expected ':'"),
    ("a: [x: 1]\n", 1, "unexpected ':'"),
    ("a: 1\n  b: 2\n", 2, "bad indentation"),
    ("a:\n    b: 1\n  c: 2\n", 3, "bad indentation"),
    ("- a\nb: c\n", 2, "bad indentation"),
    ("a: - b\n", 1, "a list item cannot start on the key's line"),
    ("just text\n", 1, "expected 'key: value'"),
    ("a: 'x' y\n", 1, "unexpected text after the quoted value"),
    ("'a' b: 1\n", 1, "expected ':' after the quoted key"),
    (": 1\n", 1, "empty key"),
    ("[a]: 1\n", 1, "flow collections as keys"),
    ("a: @x\n", 1, "cannot start with @"),
    ("a: %x\n", 1, "directives"),
    ("a: ]\n", 1, "cannot start with ']'"),
    ("a:\n  b: 1\n- c\n", 3, "a list item where a 'key: value' was expected"),
    ("a:\n  b: 1\n  - c\n", 3, "a list item where a 'key: value' was expected"),
])  # fmt: skip
def test_refusals_name_the_line(text, line, words):
    with pytest.raises(YamlError) as caught:
        parse(text)
    assert caught.value.line == line
    assert words in caught.value.why
