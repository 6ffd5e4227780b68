"""The compiled Avro writers (schemas.writer): fastavro's bytes for every record type and any
value of the declared types; fastavro's behaviour for anything else."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import pytest
from fastavro import schemaless_writer
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schemas.codec import HEADER_LEN, Codec
from schemas.models import BY_NAME, RECORD_TYPES, Record, Trade
from schemas.writer import compile_writer, long_bytes
from tests.unit.schemas.examples import examples

CODEC = Codec()
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def fastavro_bytes(record: Record) -> bytes:
    buf = io.BytesIO()
    plain = CODEC._current[type(record).__name__].plain
    schemaless_writer(buf, plain, msgspec.to_builtins(record, builtin_types=(bytes,)))
    return buf.getvalue()


def reference_long(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def values(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Builtin values (as msgspec converts them to our Structs) of an Avro schema."""
    if isinstance(schema, list):
        return st.one_of(*(values(branch, named) for branch in schema))
    if isinstance(schema, str) and schema in named:
        return values(named[schema], named)
    kind = schema if isinstance(schema, str) else schema["type"]
    match kind:
        case "null":
            return st.none()
        case "boolean":
            return st.booleans()
        case "int":
            return st.integers(*INT32)
        case "long":
            return st.integers(*INT64)
        case "float":
            return st.floats(width=32)
        case "double":
            return st.floats()
        case "bytes":
            return st.binary(max_size=40)
        case "string":
            return st.text(max_size=20)
        case "enum":
            return st.sampled_from(schema["symbols"])
        case "array":
            return st.lists(values(schema["items"], named), max_size=4)
        case "map":
            return st.dictionaries(st.text(max_size=8), values(schema["values"], named), max_size=3)
        case "record":
            named[schema["name"]] = schema
            return st.fixed_dictionaries(
                {field["name"]: values(field["type"], named) for field in schema["fields"]}
            )
    raise AssertionError(f"no strategy for {kind}")


@st.composite
def records(draw: st.DrawFn) -> Record:
    name = draw(st.sampled_from(sorted(BY_NAME)))
    plain = CODEC._current[name].plain
    raw = draw(values(plain, {}))
    try:
        return msgspec.convert(raw, BY_NAME[name], builtin_types=(bytes,))
    except msgspec.ValidationError:
        assume(False)
        raise


def test_every_record_type_has_a_compiled_writer() -> None:
    writers = CODEC._current
    missing = [cls.__name__ for cls in RECORD_TYPES if writers[cls.__name__].compiled is None]
    assert missing == []


@pytest.mark.parametrize("record", examples(), ids=lambda r: type(r).__name__)
def test_the_examples_encode_to_fastavros_bytes(record: Record) -> None:
    assert CODEC.encode(record)[HEADER_LEN:] == fastavro_bytes(record)


@settings(max_examples=400, deadline=None)
@given(records())
def test_any_record_encodes_to_fastavros_bytes_and_decodes_back(record: Record) -> None:
    data = CODEC.encode(record)
    assert data[HEADER_LEN:] == fastavro_bytes(record)
    decoded = CODEC.decode(data)
    assert msgspec.msgpack.encode(decoded) == msgspec.msgpack.encode(record)  # NaN-safe equality


@given(st.integers(*INT64))
def test_longs_are_zigzag_varints(n: int) -> None:
    assert long_bytes(n) == reference_long(n)


EDGES = [0, 63, 64, -64, -65, 2**55, 2**55 - 1, -(2**55), 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("n", EDGES)
def test_longs_at_the_edges_of_each_encoding_path(n: int) -> None:
    assert long_bytes(n) == reference_long(n)


def test_a_long_beyond_64_bits_is_refused() -> None:
    with pytest.raises(OverflowError, match="does not fit an Avro long"):
        long_bytes(2**63)


def test_a_value_of_the_wrong_type_gets_fastavros_answer() -> None:
    good = next(r for r in examples() if isinstance(r, Trade))
    # Structs do not check types on construction: a float where a long belongs.
    # fastavro truncates it; the compiled writer refuses it and leaves it to fastavro.
    bad = msgspec.structs.replace(good, exchange_ts=1.5)
    assert CODEC.encode(bad)[HEADER_LEN:] == fastavro_bytes(bad)
    huge = msgspec.structs.replace(good, exchange_ts=2**70)
    with pytest.raises(OverflowError):
        fastavro_bytes(huge)
    with pytest.raises(OverflowError):
        CODEC.encode(huge)


def test_schemas_outside_the_compiled_subset_are_left_to_fastavro() -> None:
    several = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "x", "type": ["null", "long", "string"]}],
    }
    recursive = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"]}],
    }
    assert compile_writer(several) is None
    assert compile_writer(recursive) is None
