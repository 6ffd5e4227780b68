"""Avro single-object encoding of the unified models: `C3 01` + fingerprint + body.

The 8-byte fingerprint is the CRC-64-AVRO of the writer schema's parsing canonical form
(little-endian, computed with fastavro only: the `avro` package canonicalizes logical types
differently), so a reader always knows which schema wrote a record and resolves it to its own
version. No registry is needed.

Evolution rules (checked by `marketdata schemas check` against the last commit): add fields only
with defaults; remove only fields that have defaults; give enums a default symbol before adding
symbols; never rename a record or its namespace.

Encoding uses a writer compiled from each schema (`schemas.writer`: the same bytes, 2-4x
faster than fastavro's general writer on our records); fastavro encodes whatever it does not
cover, and decodes everything.

Decoding bad bytes raises `DecodeError` (with topic, partition and offset when given) and nothing
else, so a consumer can dead-letter the record and move on instead of crash-looping.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

import msgspec
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.models import BY_NAME, Record
from schemas.writer import WriteFn, compile_writer

MAGIC: Final = b"\xc3\x01"
HEADER_LEN: Final = 10


class DecodeError(ValueError):
    """A payload could not be decoded; says where it came from and shows a short excerpt."""

    def __init__(
        self,
        reason: str,
        data: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.reason = reason
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.excerpt = data[:24].hex()
        where = topic or "record"
        if partition is not None:
            where += f"[{partition}]"
        if offset is not None:
            where += f"@{offset}"
        super().__init__(f"{where}: {reason} ({len(data)} bytes, starts {self.excerpt})")


class NotSingleObjectEncodedError(DecodeError):
    """The payload does not start with the Avro single-object marker C3 01."""


class UnknownFingerprintError(DecodeError):
    """The writer schema's fingerprint is not one this process knows."""


class TruncatedPayloadError(DecodeError):
    """The payload ends before the record does, or carries bytes after it."""


def _strip_logical(node: Any) -> Any:
    """The schema without logicalType annotations: same bytes, but fastavro reads plain ints."""
    if isinstance(node, dict):
        return {k: _strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [_strip_logical(v) for v in node]
    return node


def schema_fingerprint(schema_json: Mapping[str, Any]) -> bytes:
    """CRC-64-AVRO of the parsing canonical form, 8 bytes little-endian (as SOE carries it)."""
    parsed = parse_schema(copy.deepcopy(dict(schema_json)), _write_hint=False)
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


@dataclass(frozen=True, slots=True)
class _Writer:
    name: str
    fingerprint: bytes
    plain: Any  # parsed schema without logical types
    header: bytes  # C3 01 + fingerprint
    compiled: WriteFn | None  # schemas.writer's, where it covers the schema


def load_schema_files() -> dict[str, dict[str, Any]]:
    """Every `schemas/avro/*.avsc` shipped with the package, by record name."""
    folder = resources.files("schemas").joinpath("avro")
    out: dict[str, dict[str, Any]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".avsc"):
            schema: dict[str, Any] = json.loads(entry.read_text("utf-8"))
            out[schema["name"]] = schema
    return out


class Codec:
    """Encode models to single-object-encoded Avro and back. Build once; share freely."""

    def __init__(self, extra_writers: Iterable[Mapping[str, Any]] = ()) -> None:
        self._current: dict[str, _Writer] = {}
        self._by_fp: dict[bytes, _Writer] = {}
        for name, schema in load_schema_files().items():
            if name not in BY_NAME:
                raise RuntimeError(f"schema {name} has no model class in schemas.models")
            writer = self._register(schema)
            self._current[name] = writer
        for extra in extra_writers:
            self._register(extra)

    def _register(self, schema: Mapping[str, Any]) -> _Writer:
        # Parsed once with fastavro's hint: a schema without it is parsed again on every call
        # (3x slower per record).
        plain = parse_schema(_strip_logical(copy.deepcopy(dict(schema))))
        fp = schema_fingerprint(schema)
        writer = _Writer(str(schema["name"]), fp, plain, MAGIC + fp, compile_writer(plain))
        self._by_fp[writer.fingerprint] = writer
        return writer

    def register_writer(self, schema: Mapping[str, Any]) -> bytes:
        """Accept records written with an older (or newer) version of a schema; returns its fp."""
        return self._register(schema).fingerprint

    def fingerprint(self, record_name: str) -> bytes:
        return self._current[record_name].fingerprint

    @property
    def record_names(self) -> list[str]:
        return sorted(self._current)

    def encode(self, record: Record) -> bytes:
        writer = self._current[type(record).__name__]
        if writer.compiled is not None:
            out = bytearray(writer.header)
            try:
                writer.compiled(record, out)
                return bytes(out)
            except Exception:  # noqa: S110 - fastavro encodes it, or says what is wrong
                pass
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(writer.fingerprint)
        schemaless_writer(buf, writer.plain, msgspec.to_builtins(record, builtin_types=(bytes,)))
        return buf.getvalue()

    def decode(
        self,
        data: bytes,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> Record:
        """Decode any known record; raises DecodeError (only) for bad bytes."""

        def fail(cls: type[DecodeError], reason: str) -> DecodeError:
            return cls(reason, data, topic=topic, partition=partition, offset=offset)

        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise fail(
                NotSingleObjectEncodedError, "not Avro single-object encoded (no C3 01 header)"
            )
        writer = self._by_fp.get(data[2:HEADER_LEN])
        if writer is None:
            raise fail(
                UnknownFingerprintError,
                f"unknown schema fingerprint 0x{data[2:HEADER_LEN].hex()} "
                f"(known: {', '.join(self.record_names)})",
            )
        reader = self._current.get(writer.name)
        if reader is None:
            raise fail(UnknownFingerprintError, f"record type {writer.name} is unknown here")
        buf = io.BytesIO(data)
        buf.seek(HEADER_LEN)
        try:
            # The reader schema is always given: even when it is the writer's, that is fastavro's
            # faster path (it skips re-inspecting the writer schema).
            raw = schemaless_reader(buf, writer.plain, reader.plain)
        except (EOFError, StopIteration, IndexError) as exc:
            raise fail(
                TruncatedPayloadError, f"{writer.name} payload is truncated ({type(exc).__name__})"
            ) from None
        except Exception as exc:  # fastavro raises many types on garbage input
            raise fail(
                DecodeError, f"{writer.name} payload is corrupt ({type(exc).__name__}: {exc})"
            ) from None
        if buf.tell() != len(data):
            raise fail(
                TruncatedPayloadError,
                f"{writer.name} payload has {len(data) - buf.tell()} trailing bytes",
            )
        try:
            record: Record = msgspec.convert(raw, BY_NAME[writer.name], builtin_types=(bytes,))
        except msgspec.ValidationError as exc:
            raise fail(DecodeError, f"{writer.name} payload is invalid: {exc}") from None
        return record

    def decode_as[R: Record](self, data: bytes, cls: type[R], **where: Any) -> R:
        """Decode and check the record type (a topic carries one type)."""
        record = self.decode(data, **where)
        if not isinstance(record, cls):
            raise DecodeError(
                f"expected {cls.__name__}, got {type(record).__name__}",
                data,
                topic=where.get("topic"),
                partition=where.get("partition"),
                offset=where.get("offset"),
            )
        return record


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(ts: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly (no float rounding), whatever
    its UTC offset."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
