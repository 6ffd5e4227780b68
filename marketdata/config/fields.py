"""The base of every configuration section and the field types they share.

Sections are frozen (configuration is loaded once and passed down; nothing may change it behind a
reader's back), forbid unknown keys (a typo must be an error, not a silent fallback to a default),
read camelCase YAML keys and accept snake_case names too (for tests and programmatic use), and
never echo an input value in an error, since the value may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

MASK: Final = "**********"
"""How every secret is printed (pydantic's own SecretStr rendering)."""

SYMBOL_RE: Final = re.compile(r"^[A-Z0-9]{2,10}/[A-Z0-9]{2,10}$")
_SEPARATORS: Final = re.compile(r"[-_:]")

CROSS_FIELD: Final = "cross_field"
"""Error type of a rule that involves several fields; its `ctx["at"]` is the path (relative to
the model that raised it) of the field to blame, so the loader can point at it exactly."""


class Section(BaseModel):
    """A configuration section: frozen, strict about keys, camelCase in YAML."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,  # populate_by_name, in pydantic >= 2.11 spelling
        validate_by_alias=True,
        hide_input_in_errors=True,
    )


def cross_field_error(at: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """An error about `at` (camelCase keys / list indexes below the raising model)."""
    return PydanticCustomError(CROSS_FIELD, "{message}", {"at": at, "message": message})


def unique[T](values: Sequence[T], what: str) -> None:
    """Raise at the first repeated item: a duplicate is always a mistake in a list of choices."""
    first: dict[T, int] = {}
    for index, value in enumerate(values):
        if value in first:
            raise cross_field_error((index,), f"duplicate of {what}[{first[value]}] ({value})")
        first[value] = index


def _check_symbol(value: str) -> str:
    if SYMBOL_RE.match(value):
        return value
    guess = _SEPARATORS.sub("/", value.strip()).upper()
    hint = f"; did you mean '{guess}'?" if SYMBOL_RE.match(guess) else ""
    raise ValueError(
        f"'{value}' is not a canonical symbol: expected BASE/QUOTE, 2-10 upper-case letters or "
        f"digits on each side of a slash, e.g. 'BTC/USD'{hint}"
    )


def blank_is_none(value: object) -> object:
    """For optional text fields: "" (typically `${VAR:-}`) means "not set"."""
    return None if isinstance(value, str) and not value.strip() else value


def _secret_text(value: object) -> object:
    """Trim secrets (a trailing newline from `$(cat key)` is never part of a key); refuse the
    mask that `config show` prints, so a shown config fed back in cannot pose as a real key."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        value = value.strip()
        if value == MASK:
            raise ValueError(
                f"is the mask '{MASK}' printed by `config show`, not a key: "
                "give the real value (from ${VAR} or a key file)"
            )
    return value


def _required_secret(value: object) -> object:
    value = _secret_text(value)
    if value == "":
        raise ValueError("must not be empty")
    return value


def _secret_or_none(value: object) -> object:
    value = _secret_text(value)
    return None if value == "" else value


Symbol = Annotated[str, AfterValidator(_check_symbol)]
"""A canonical `BASE/QUOTE` pair, e.g. `BTC/USD`."""

PositiveFloat = Annotated[float, Field(gt=0)]
Port = Annotated[int, Field(ge=0, le=65535)]
"""A TCP port; 0 means "pick a free one" or "off", as each field documents."""

Secret = Annotated[SecretStr, BeforeValidator(_required_secret)]
"""A secret that must be present (e.g. an API key the service accepts)."""

OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_secret_or_none)]
"""A secret that may be absent: empty (`${VAR:-}`) counts as absent."""
