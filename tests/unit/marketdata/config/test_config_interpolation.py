"""`${VAR}` interpolation: strings only, defaults, escapes, every missing variable with its path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from marketdata.config.interpolation import Missing, format_path, interpolate, interpolate_string

names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)


@given(st.text().filter(lambda s: "${" not in s))
def test_text_without_references_is_unchanged(text: str) -> None:
    assert interpolate_string(text, {}, []) == text


@given(names, st.text(alphabet=st.characters(blacklist_characters="}"), max_size=20))
def test_defaults_apply_only_when_unset(name: str, default: str) -> None:
    assert interpolate_string(f"${{{name}:-{default}}}", {}, []) == default
    assert interpolate_string(f"${{{name}:-{default}}}", {name: "set"}, []) == "set"


@given(names, names, st.text(max_size=10), st.text(max_size=10))
def test_several_references_in_one_string(a: str, b: str, va: str, vb: str) -> None:
    env = {a: va, b: vb}
    assert interpolate_string(f"<${{{a}}}|${{{b}}}>", env, []) == f"<{env[a]}|{env[b]}>"


def test_dollar_dollar_is_a_literal() -> None:
    assert (
        interpolate_string("$${HOME} and ${X}", {"X": "x", "HOME": "/root"}, []) == "${HOME} and x"
    )


def test_values_are_not_reinterpolated() -> None:
    assert interpolate_string("${A}", {"A": "${B}", "B": "no"}, []) == "${B}"


def test_every_missing_variable_is_collected_with_its_path() -> None:
    tree = {"a": {"b": "${X}", "c": ["ok", "${Y}-${Z:-z}"]}, "${K}": 5, "n": 7}
    out, missing = interpolate(tree, {})
    assert out == {"a": {"b": "", "c": ["ok", "-z"]}, "${K}": 5, "n": 7}  # keys untouched
    assert missing == [Missing(("a", "b"), "X"), Missing(("a", "c", 1), "Y")]


def test_paths_render_as_yaml_paths() -> None:
    assert format_path(("marketData", "exchanges", "kraken", "symbols", 1)) == (
        "marketData.exchanges.kraken.symbols[1]"
    )
