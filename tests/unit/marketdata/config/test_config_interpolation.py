"""`${VAR}` interpolation: string values only, defaults, escapes, every unresolved reference."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from marketdata.config.interpolation import (
    Unresolved,
    escape,
    format_path,
    interpolate,
    interpolate_string,
)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
plain = st.text(max_size=30).filter(lambda s: "${" not in s)
defaults = st.text(max_size=20).filter(lambda s: "}" not in s and "${" not in s)
values = st.text(max_size=20)


@given(plain)
def test_text_without_references_is_unchanged(text: str) -> None:
    assert interpolate_string(text, {"X": "x"}) == (text, [])


@given(names, defaults, values.filter(bool))
def test_a_default_applies_when_the_variable_is_unset_or_empty(
    name: str, default: str, value: str
) -> None:
    assert interpolate_string(f"${{{name}:-{default}}}", {}) == (default, [])
    assert interpolate_string(f"${{{name}:-{default}}}", {name: ""}) == (default, [])
    assert interpolate_string(f"${{{name}:-{default}}}", {name: value}) == (value, [])


@given(names)
def test_a_variable_set_to_empty_without_default_is_empty_not_missing(name: str) -> None:
    assert interpolate_string(f"<${{{name}}}>", {name: ""}) == ("<>", [])


@given(st.lists(st.tuples(plain, names, values), min_size=1, max_size=4), plain)
def test_several_references_in_one_string(parts: list[tuple[str, str, str]], tail: str) -> None:
    assume(not any(lead.endswith("$") for lead, _, _ in parts))  # "$" + "${" is an escape
    env = {name: value for _, name, value in parts}
    text = "".join(f"{lead}${{{name}}}" for lead, name, _ in parts) + tail
    expected = "".join(lead + env[name] for lead, name, _ in parts) + tail
    assert interpolate_string(text, env) == (expected, [])


@given(st.text(max_size=40))
def test_escaping_any_text_round_trips(text: str) -> None:
    assert interpolate_string(escape(text), {"HOME": "/root"}) == (text, [])


@given(plain, names)
def test_dollar_dollar_brace_is_a_literal(before: str, name: str) -> None:
    assume(not before.endswith("$"))
    assert interpolate_string(f"{before}$${{{name}}}", {name: "set"}) == (
        f"{before}${{{name}}}",
        [],
    )


@given(names, values)
def test_values_from_the_environment_are_not_interpolated_again(name: str, value: str) -> None:
    env = {name: "${OTHER}" + value, "OTHER": "no"}
    assert interpolate_string(f"${{{name}}}", env) == ("${OTHER}" + value, [])


def test_unset_variables_are_listed_in_order_and_become_empty() -> None:
    assert interpolate_string("a${X}b${Y:-y}c${Z}", {}) == ("abyc", ["X", "Z"])


def test_malformed_references_are_reported_not_passed_through() -> None:
    for text in ("${KEY", "${1X}", "${A:?err}", "${A-x}", "${A:-${B}}", "${}"):
        _, unresolved = interpolate_string(text, {"A": "a", "B": "b", "KEY": "k"})
        assert None in unresolved, text


def test_only_string_values_are_interpolated_keys_and_other_types_stay() -> None:
    tree = {
        "a": {"b": "${X}", "c": ["ok", "${Y}-${Z:-z}", 5, None, True]},
        "${K}": 5,
        "n": 7.5,
    }
    out, unresolved = interpolate(tree, {})

    assert out == {"a": {"b": "", "c": ["ok", "-z", 5, None, True]}, "${K}": 5, "n": 7.5}
    assert unresolved == [Unresolved(("a", "b"), "X"), Unresolved(("a", "c", 1), "Y")]


def test_the_input_document_is_not_modified() -> None:
    tree = {"a": ["${X:-x}"]}
    interpolate(tree, {})
    assert tree == {"a": ["${X:-x}"]}


def test_paths_render_as_yaml_paths() -> None:
    assert format_path(("marketData", "exchanges", "kraken", "symbols", 1)) == (
        "marketData.exchanges.kraken.symbols[1]"
    )
    assert format_path(("a", 0, 2, "b")) == "a[0][2].b"
