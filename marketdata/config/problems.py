"""Turn pydantic's validation errors into `Problem`s a person can act on.

Paths use the YAML's own keys; a rule spanning several fields points at the field to change (see
`fields.cross_field_error`); an unknown key comes with the likely intended one. Input values are
never included: pydantic is asked to leave them out, and no message here adds one.
"""

from __future__ import annotations

import difflib
import types
from typing import Any, Final, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from marketdata.config.errors import Problem
from marketdata.config.fields import CROSS_FIELD
from marketdata.config.interpolation import YamlPath, format_path
from marketdata.config.model import Document

_LIST_KEYS_UP_TO: Final = 8  # a longer list of keys is noise: point at the example instead


def document_problems(exc: ValidationError) -> list[Problem]:
    """One problem per error, at its path below the document root."""
    problems: list[Problem] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc: YamlPath = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"] == CROSS_FIELD:
            loc = (*loc, *ctx["at"])
        problems.append(Problem(format_path(loc) or "(top level)", _message(error, loc)))
    return problems


def _message(error: ErrorDetails, loc: YamlPath) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key" + _known_keys_hint(loc)
    return str(error["msg"]).removeprefix("Value error, ")


def _known_keys_hint(loc: YamlPath) -> str:
    """'; did you mean …' or the section's keys, found by walking the model along `loc`."""
    model: type[BaseModel] | None = Document
    for part in loc[:-1]:
        if model is None or not isinstance(part, str):
            return ""
        model = _section_type(model, part)
    if model is None:
        return ""
    keys = [field.alias or name for name, field in model.model_fields.items()]
    if close := difflib.get_close_matches(str(loc[-1]), keys, n=1):
        return f"; did you mean '{close[0]}'?"
    if len(keys) <= _LIST_KEYS_UP_TO:
        return f" (expected one of: {', '.join(keys)})"
    return " (config.example.yaml lists every key)"


def _section_type(model: type[BaseModel], alias: str) -> type[BaseModel] | None:
    for name, field in model.model_fields.items():
        if (field.alias or name) == alias:
            return _model_in(field.annotation)
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        for member in get_args(annotation):
            if found := _model_in(member):
                return found
    return None
