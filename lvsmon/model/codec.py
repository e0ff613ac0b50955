"""One JSON encoding for every model type, and its inverse beside it.

    to_json(snapshot)              plain JSON values: dict, list, str, int, float, bool, None
    from_json(IpvsTable, data)     an equal frozen value again, or SnapshotDecodeError

Every `--json` output, the status socket and the SNAT status file go through here, so a
type has exactly one spelling and a reader gets typed values, never raw keys. The
encoding follows the dataclass fields and their annotations: tuples become lists,
FrozenDicts objects (string keys), nested dataclasses objects. Two class attributes
adjust it:

    _json_inline = ("key",)               a dataclass field written into its parent's object
    _json_extras = {"available": "available"}   JSON name -> property, written for people
                                          and jq, ignored when reading back

Reading is strict: every field must be present and of its type (a renamed key is an
error naming the path, not a silent default); keys it does not know are passed over,
so an older reader can read a newer writer's output.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from lvsmon.errors import SnapshotDecodeError
from lvsmon.model.frozen import FrozenDict

T = TypeVar("T")
_PRIMITIVES = (int, float, str, bool, type(None))


def to_json(value: Any) -> Any:
    """The JSON-ready form of a model value (a dataclass instance, or a tuple of them)."""
    if isinstance(value, tuple):
        return [to_json(item) for item in value]
    if isinstance(value, FrozenDict):
        return {key: to_json(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value):
        return _encoder(type(value))(value)
    return value


def from_json(kind: Any, data: Any) -> Any:
    """The model value of type `kind` (a class or e.g. tuple[SegmentView, ...]) in `data`."""
    return _decoder(kind)(data, "")


# -- encoding ----------------------------------------------------------------------------


@functools.cache
def _encoder(kind: Any) -> Callable[[Any], Any] | None:
    """A function encoding values of `kind`; None where the value is its own encoding."""
    origin = typing.get_origin(kind) or kind
    if kind is Any:  # e.g. a bare generic's type variable: decided by the value itself
        return to_json
    if kind in _PRIMITIVES:
        return None
    if _is_union(kind):
        inner = [_encoder(arg) for arg in typing.get_args(kind) if arg is not type(None)]
        if all(item is None for item in inner):
            return None
        if len(inner) != 1:
            raise TypeError(f"cannot encode the union {kind}")
        (encode,) = inner
        return lambda value: None if value is None else encode(value)
    if origin is tuple:
        args = typing.get_args(kind)
        encode = _encoder(args[0]) if len(args) == 2 and args[1] is Ellipsis else None
        if encode is None:
            return lambda value: [to_json(item) for item in value]
        return lambda value: [encode(item) for item in value]
    if origin is FrozenDict:
        encode = _encoder(typing.get_args(kind)[1]) if typing.get_args(kind) else None
        if encode is None:
            return lambda value: dict(value.items())
        return lambda value: {key: encode(item) for key, item in value.items()}
    if dataclasses.is_dataclass(origin):
        return _dataclass_encoder(kind)
    raise TypeError(f"no JSON encoding for {kind!r}")


def _dataclass_encoder(kind: Any) -> Callable[[Any], dict]:
    plan = []  # (json name, field name, encoder or None, inline)
    inline = set(getattr(_origin(kind), "_json_inline", ()))
    for name, hint in _field_types(kind).items():
        plan.append((name, _encoder(hint), name in inline))
    extras = tuple(getattr(_origin(kind), "_json_extras", {}).items())

    def encode(value) -> dict:
        document = {}
        for name, encode_field, is_inline in plan:
            item = getattr(value, name)
            if is_inline:
                document.update(encode_field(item))
            else:
                document[name] = item if encode_field is None else encode_field(item)
        for json_name, attribute in extras:
            document[json_name] = to_json(getattr(value, attribute))
        return document

    return encode


# -- decoding ----------------------------------------------------------------------------


Decoder = Callable[[Any, str], Any]


@functools.cache
def _decoder(kind: Any) -> Decoder:
    origin = typing.get_origin(kind) or kind
    if kind is Any:
        return lambda data, path: data
    if kind in _PRIMITIVES:
        return _primitive_decoder(kind)
    if _is_union(kind):
        return _union_decoder(kind)
    if origin is tuple:
        return _tuple_decoder(kind)
    if origin is FrozenDict:
        return _mapping_decoder(kind)
    if dataclasses.is_dataclass(origin):
        return _dataclass_decoder(kind)
    raise TypeError(f"no JSON decoding for {kind!r}")


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
          type(None): "null"}  # fmt: skip


def _primitive_decoder(kind: type) -> Decoder:
    def decode(data, path):
        if kind is float and isinstance(data, int) and not isinstance(data, bool):
            return float(data)
        # bool is an int in Python: never take one for the other.
        if isinstance(data, kind) and (kind is bool or not isinstance(data, bool)):
            return data
        raise _wrong(path, _WORDS[kind], data)

    return decode


def _union_decoder(kind: Any) -> Decoder:
    args = typing.get_args(kind)
    optional = type(None) in args
    choices = [arg for arg in args if arg is not type(None)]
    if len(choices) == 1 and choices[0] not in _PRIMITIVES:
        decode_one = _decoder(choices[0])

        def decode(data, path):
            if data is None and optional:
                return None
            return decode_one(data, path)

        return decode
    if not all(choice in _PRIMITIVES for choice in choices):
        raise TypeError(f"cannot decode the union {kind}")
    decoders = [_primitive_decoder(choice) for choice in choices]
    wanted = " or ".join(_WORDS[choice] for choice in choices) + (" or null" if optional else "")

    def decode_primitive(data, path):
        if data is None and optional:
            return None
        for decode_one in decoders:
            try:
                return decode_one(data, path)
            except SnapshotDecodeError:
                continue
        raise _wrong(path, wanted, data)

    return decode_primitive


def _tuple_decoder(kind: Any) -> Decoder:
    args = typing.get_args(kind)
    if len(args) == 2 and args[1] is Ellipsis:
        decode_item = _decoder(args[0])

        def decode(data, path):
            if not isinstance(data, list):
                raise _wrong(path, "a list", data)
            return tuple(decode_item(item, f"{path}[{index}]") for index, item in enumerate(data))

        return decode
    decoders = [_decoder(arg) for arg in args]

    def decode_fixed(data, path):
        if not isinstance(data, list) or len(data) != len(decoders):
            raise _wrong(path, f"a list of {len(decoders)}", data)
        pairs = enumerate(zip(decoders, data, strict=True))
        return tuple(decode(item, f"{path}[{index}]") for index, (decode, item) in pairs)

    return decode_fixed


def _mapping_decoder(kind: Any) -> Decoder:
    args = typing.get_args(kind)
    decode_key = _decoder(args[0]) if args else _decoder(str)
    decode_value = _decoder(args[1]) if args else _decoder(Any)

    def decode(data, path):
        if not isinstance(data, dict):
            raise _wrong(path, "an object", data)
        return FrozenDict({
            decode_key(key, f"{path}.{key}"): decode_value(value, f"{path}.{key}")
            for key, value in data.items()
        })  # fmt: skip

    return decode


def _dataclass_decoder(kind: Any) -> Decoder:
    cls = _origin(kind)
    inline = set(getattr(cls, "_json_inline", ()))
    plan = [(name, _decoder(hint), name in inline) for name, hint in _field_types(kind).items()]

    def decode(data, path):
        if not isinstance(data, dict):
            raise _wrong(path, f"an object ({cls.__name__})", data)
        values = {}
        for name, decode_field, is_inline in plan:
            where = f"{path}.{name}" if path else name
            if is_inline:
                values[name] = decode_field(data, path)
            elif name in data:
                values[name] = decode_field(data[name], where)
            else:
                raise SnapshotDecodeError(f"{where}: missing ({cls.__name__})")
        return cls(**values)

    return decode


# -- types -------------------------------------------------------------------------------


def _origin(kind: Any) -> type:
    return typing.get_origin(kind) or kind


def _is_union(kind: Any) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType)


@functools.cache
def _field_types(kind: Any) -> dict[str, Any]:
    """Field name -> resolved annotation, with a generic's type variables filled in."""
    cls = _origin(kind)
    hints = typing.get_type_hints(cls)
    # A bare generic (no arguments) leaves its type variables unbound: read as Any.
    bound = dict(zip(getattr(cls, "__parameters__", ()), typing.get_args(kind), strict=False))
    return {
        field.name: _substitute(hints[field.name], bound)
        for field in dataclasses.fields(cls)
        if field.init
    }


def _substitute(hint: Any, bound: dict) -> Any:
    if isinstance(hint, TypeVar):
        return bound.get(hint, Any)
    args = typing.get_args(hint)
    if not args:
        return hint
    new_args = tuple(arg if arg is Ellipsis else _substitute(arg, bound) for arg in args)
    if _is_union(hint):
        return typing.Union[new_args]  # noqa: UP007 - built from a tuple of types
    return typing.get_origin(hint)[new_args]


def _wrong(path: str, wanted: str, data: Any) -> SnapshotDecodeError:
    shown = repr(data)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return SnapshotDecodeError(f"{path or 'the document'}: expected {wanted}, got {shown}")
