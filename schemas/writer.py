"""Avro binary writers compiled from a schema, for our record Structs: fastavro's bytes, faster.

fastavro's writer is general: per record it walks the schema, looks every field up in a dict
(`msgspec.to_builtins` first builds those dicts) and tries each branch of a union. For our
records that costs 10-35 µs, and about 90 µs for an `IndicatorSet` with its volume profile: the
largest single cost of the processors' output path, and a large one of the producers'. This
module turns a schema into one flat Python function per record type that reads the Struct's
attributes and appends the Avro binary encoding to a bytearray (the approach of `dataclasses`
and `attrs`, which generate their methods the same way).

Scope: the types our schemas use (null, boolean, int, long, float, double, bytes, string, enum,
fixed, record, array, map, and unions of null with one other type). A schema with anything else
(a union of several non-null types, a recursive record) is not compiled: `compile_writer`
returns None and the codec uses fastavro. A value the compiled writer cannot encode (a wrong
type, an int out of range) raises, and the codec then lets fastavro encode it, which succeeds
the same way or fails with fastavro's own error. A property test proves the bytes equal
fastavro's for every record type.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

type WriteFn = Callable[[Any, bytearray], None]

_PRIMITIVES: Final = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
_MIN_LONG: Final = -(1 << 63)
_MAX_LONG: Final = (1 << 63) - 1
_SMALL: Final = tuple(bytes([n << 1]) for n in range(64))  # zig-zag of 0..63: one byte
_STRING_CACHE_MAX: Final = 4096
_CONTINUATION: Final = (0, *(sum(0x80 << (8 * i) for i in range(k - 1)) for k in range(1, 9)))


class Unsupported(Exception):
    """The schema uses something this writer does not compile (fastavro encodes it instead)."""


def long_bytes(n: int) -> bytes:
    """Avro `int`/`long`: zig-zag, then a little-endian base-128 varint (7 bits a byte, the
    high bit set on every byte but the last). Up to 56 bits (every timestamp) the groups are
    spread with masks in one go rather than a byte at a time."""
    if 0 <= n < 64:
        return _SMALL[n]
    if not _MIN_LONG <= n <= _MAX_LONG:
        raise OverflowError(f"{n} does not fit an Avro long")
    z = (n << 1) ^ (n >> 63)
    if z >= 1 << 56:
        out = bytearray()
        while z >= 0x80:
            out.append((z & 0x7F) | 0x80)
            z >>= 7
        out.append(z)
        return bytes(out)
    spread = (
        (z & 0x7F)
        | ((z & 0x3F80) << 1)
        | ((z & 0x1FC000) << 2)
        | ((z & 0xFE00000) << 3)
        | ((z & 0x7F0000000) << 4)
        | ((z & 0x3F800000000) << 5)
        | ((z & 0x1FC0000000000) << 6)
        | ((z & 0xFE000000000000) << 7)
    )
    size = (z.bit_length() + 6) // 7
    return (spread | _CONTINUATION[size]).to_bytes(size, "little")


_strings: dict[str, bytes] = {}


def string_bytes(s: str) -> bytes:
    """Avro `string`: the length, then UTF-8. Short strings repeat (venues, symbols, timeframes,
    channels), so their encodings are cached; the cache is bounded."""
    found = _strings.get(s)
    if found is not None:
        return found
    if not isinstance(s, str):
        raise TypeError(f"expected a string, got {type(s).__name__}")
    raw = s.encode()
    encoded = long_bytes(len(raw)) + raw
    if len(raw) <= 64:
        if len(_strings) >= _STRING_CACHE_MAX:
            _strings.clear()
        _strings[s] = encoded
    return encoded


def _bytes_field(b: bytes) -> bytes:
    if not isinstance(b, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(b).__name__}")
    return long_bytes(len(b)) + bytes(b)


def _integer(n: int) -> bytes:
    if not isinstance(n, int):  # bool is an int, as fastavro takes it
        raise TypeError(f"expected an int, got {type(n).__name__}")
    return long_bytes(n)


def _boolean(b: bool) -> bytes:
    if not isinstance(b, bool | int):
        raise TypeError(f"expected a boolean, got {type(b).__name__}")
    return b"\x01" if b else b"\x00"


_PACK_DOUBLE: Final = struct.Struct("<d").pack
_PACK_FLOAT: Final = struct.Struct("<f").pack


class _Compiler:
    def __init__(self) -> None:
        self.names = itertools.count()
        self.namespace: dict[str, Any] = {
            "_long": _integer,
            "_len": long_bytes,
            "_str": string_bytes,
            "_bytes": _bytes_field,
            "_double": _PACK_DOUBLE,
            "_float": _PACK_FLOAT,
            "_bool": _boolean,
        }
        self.named: dict[str, Mapping[str, Any]] = {}
        self.compiling: set[str] = set()

    def function(self, schema: Any) -> str:
        """Compile `schema` into a function `(value, out)`; return its name in the namespace."""
        name = f"_w{next(self.names)}"
        body = self.statements(schema, "v", 1)
        source = f"def {name}(v, out):\n" + "\n".join(body or ["    pass"]) + "\n"
        exec(source, self.namespace)  # noqa: S102 - code generated from our own schema files
        return name

    def constant(self, value: Any) -> str:
        name = f"_c{next(self.names)}"
        self.namespace[name] = value
        return name

    def statements(self, schema: Any, expr: str, depth: int) -> list[str]:
        pad = "    " * depth
        if isinstance(schema, list):
            return self._union(schema, expr, depth)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self._primitive(schema, expr, pad)
            if schema in self.named:
                return self.statements(self.named[schema], expr, depth)
            raise Unsupported(f"unknown named type {schema}")
        kind = schema["type"]
        if kind in _PRIMITIVES:
            return self._primitive(kind, expr, pad)
        if kind == "record":
            return self._record(schema, expr, depth)
        if kind == "enum":
            self.named[schema["name"]] = schema
            index = {s: long_bytes(i) for i, s in enumerate(schema["symbols"])}
            return [f"{pad}out += {self.constant(index)}[{expr}]"]
        if kind == "fixed":
            self.named[schema["name"]] = schema
            size = int(schema["size"])
            return [
                f"{pad}if len({expr}) != {size}:",
                f"{pad}    raise ValueError('fixed of {size} bytes expected')",
                f"{pad}out += {expr}",
            ]
        if kind == "array":
            item = self.function(schema["items"])
            return [
                f"{pad}if {expr}:",
                f"{pad}    out += _len(len({expr}))",
                f"{pad}    for _item in {expr}:",
                f"{pad}        {item}(_item, out)",
                f"{pad}out += b'\\x00'",
            ]
        if kind == "map":
            value = self.function(schema["values"])
            return [
                f"{pad}if {expr}:",
                f"{pad}    out += _len(len({expr}))",
                f"{pad}    for _key, _value in {expr}.items():",
                f"{pad}        out += _str(_key)",
                f"{pad}        {value}(_value, out)",
                f"{pad}out += b'\\x00'",
            ]
        raise Unsupported(f"type {kind}")

    def _primitive(self, kind: str, expr: str, pad: str) -> list[str]:
        match kind:
            case "null":
                return [f"{pad}if {expr} is not None:", f"{pad}    raise TypeError('not null')"]
            case "boolean":
                return [f"{pad}out += _bool({expr})"]
            case "int" | "long":
                return [f"{pad}out += _long({expr})"]
            case "float":
                return [f"{pad}out += _float({expr})"]
            case "double":
                return [f"{pad}out += _double({expr})"]
            case "bytes":
                return [f"{pad}out += _bytes({expr})"]
            case _:
                return [f"{pad}out += _str({expr})"]

    def _record(self, schema: Mapping[str, Any], expr: str, depth: int) -> list[str]:
        name = schema["name"]
        if name in self.compiling:
            raise Unsupported(f"recursive record {name}")
        self.named[name] = schema
        self.compiling.add(name)
        try:
            lines: list[str] = []
            for field in schema["fields"]:
                lines += self.statements(field["type"], f"{expr}.{field['name']}", depth)
            return lines
        finally:
            self.compiling.discard(name)

    def _union(self, branches: list[Any], expr: str, depth: int) -> list[str]:
        pad = "    " * depth
        others = [b for b in branches if b != "null"]
        if len(branches) != 2 or len(others) != 1:
            raise Unsupported("a union other than null and one type")
        null_index = branches.index("null")
        return [
            f"{pad}if {expr} is None:",
            f"{pad}    out += {long_bytes(null_index)!r}",
            f"{pad}else:",
            f"{pad}    out += {long_bytes(1 - null_index)!r}",
            *self.statements(others[0], expr, depth + 1),
        ]


def compile_writer(parsed_schema: Any) -> WriteFn | None:
    """A writer for records of this (fastavro-parsed, logical types stripped) schema, or None
    when the schema uses something not covered here."""
    compiler = _Compiler()
    try:
        name = compiler.function(parsed_schema)
    except Unsupported:
        return None
    writer: WriteFn = compiler.namespace[name]
    return writer
