"""Every .avsc and its model class agree field for field: names, types, optionality, defaults."""

from __future__ import annotations

import types
import typing
from typing import Any

import msgspec
import pytest

from schemas.codec import load_schema_files
from schemas.models import BY_NAME, Record

PRIMITIVE = {
    "string": str,
    "double": float,
    "long": int,
    "int": int,
    "boolean": bool,
    "bytes": bytes,
}


def _avro_python_type(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        inner = [t for t in avro_type if t != "null"]
        return f"optional[{_avro_python_type(inner[0])}]"
    if isinstance(avro_type, dict):
        kind = avro_type["type"]
        if kind == "array":
            return f"list[{_avro_python_type(avro_type['items'])}]"
        if kind == "map":
            return f"dict[{_avro_python_type(avro_type['values'])}]"
        if kind in ("record", "enum"):
            return avro_type["name"]
        return _avro_python_type(kind)  # a primitive with a logicalType
    if avro_type in PRIMITIVE:
        return PRIMITIVE[avro_type].__name__
    return str(avro_type)  # a named type defined earlier in the file


def _model_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"optional[{_model_type(inner[0])}]"
    if origin is list:
        return f"list[{_model_type(typing.get_args(tp)[0])}]"
    if origin is dict:
        return f"dict[{_model_type(typing.get_args(tp)[1])}]"
    return str(tp.__name__)


SCHEMAS = load_schema_files()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_model_mirrors_schema(name: str) -> None:
    schema = SCHEMAS[name]
    model: type[Record] = BY_NAME[name]
    hints = typing.get_type_hints(model)
    fields = {f.name: f for f in msgspec.structs.fields(model)}

    assert set(fields) == {f["name"] for f in schema["fields"]}, name
    for avro_field in schema["fields"]:
        field = fields[avro_field["name"]]
        where = f"{name}.{field.name}"
        assert _model_type(hints[field.name]) == _avro_python_type(avro_field["type"]), where
        has_default = field.default is not msgspec.NODEFAULT or (
            field.default_factory is not msgspec.NODEFAULT
        )
        assert has_default == ("default" in avro_field), where
        if field.default is not msgspec.NODEFAULT:
            assert field.default == avro_field["default"], where


def test_schemas_live_in_one_namespace_and_document_themselves() -> None:
    for name, schema in SCHEMAS.items():
        assert schema["namespace"] == "crypton.marketdata", name
        assert schema.get("doc"), name
