"""Schema evolution: compatible changes pass, incompatible ones name the field and direction."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schemas.compat import check_against_git, check_compatibility

BASE: dict[str, Any] = {
    "type": "record",
    "name": "Trade",
    "namespace": "crypton.marketdata",
    "fields": [
        {"name": "symbol", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "venue", "type": "string", "default": "kraken"},
        {
            "name": "side",
            "type": {
                "type": "enum",
                "name": "Side",
                "symbols": ["buy", "sell", "unknown"],
                "default": "unknown",
            },
        },
    ],
}


def changed(**edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(BASE)
    if "add" in edit:
        schema["fields"].append(edit["add"])
    if "remove" in edit:
        schema["fields"] = [f for f in schema["fields"] if f["name"] != edit["remove"]]
    if "retype" in edit:
        name, new_type = edit["retype"]
        next(f for f in schema["fields"] if f["name"] == name)["type"] = new_type
    return schema


def test_adding_a_field_with_a_default_is_compatible_both_ways() -> None:
    assert (
        check_compatibility(BASE, changed(add={"name": "qty", "type": "double", "default": 0.0}))
        == []
    )


def test_adding_a_field_without_a_default_breaks_backward() -> None:
    problems = check_compatibility(BASE, changed(add={"name": "qty", "type": "double"}))
    assert any(p.startswith("BACKWARD") and "qty" in p for p in problems)
    assert not any(p.startswith("FORWARD") for p in problems)


def test_removing_a_field_without_a_default_breaks_forward() -> None:
    problems = check_compatibility(BASE, changed(remove="price"))
    assert any(p.startswith("FORWARD") and "price" in p for p in problems)


def test_removing_a_defaulted_field_is_compatible() -> None:
    assert check_compatibility(BASE, changed(remove="venue")) == []


def test_an_incompatible_type_change_fails() -> None:
    assert check_compatibility(BASE, changed(retype=("price", "string")))


def test_promotion_int_to_long_is_backward_only() -> None:
    base = changed(retype=("price", "int"))
    problems = check_compatibility(base, changed(retype=("price", "long")))
    assert not any(p.startswith("BACKWARD") for p in problems)
    assert any(p.startswith("FORWARD") for p in problems)


def test_a_new_enum_symbol_is_compatible_thanks_to_the_enum_default() -> None:
    new = copy.deepcopy(BASE)
    new["fields"][3]["type"]["symbols"] = ["buy", "sell", "unknown", "auction"]
    assert check_compatibility(BASE, new) == []


def test_renaming_the_record_is_reported() -> None:
    new = copy.deepcopy(BASE)
    new["name"] = "Fill"
    assert any("renamed" in p for p in check_compatibility(BASE, new))


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "schemas" / "avro").mkdir(parents=True)
    (tmp_path / "schemas" / "avro" / "Trade.avsc").write_text(json.dumps(BASE))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "schemas")
    return tmp_path


def test_git_check_passes_compatible_and_new_schemas(repo: Path) -> None:
    trade = repo / "schemas" / "avro" / "Trade.avsc"
    trade.write_text(json.dumps(changed(add={"name": "qty", "type": "double", "default": 0.0})))
    (repo / "schemas" / "avro" / "New.avsc").write_text(json.dumps({**BASE, "name": "New"}))
    assert check_against_git("HEAD", repo) == []


def test_git_check_reports_incompatible_and_deleted_schemas(repo: Path) -> None:
    trade = repo / "schemas" / "avro" / "Trade.avsc"
    trade.write_text(json.dumps(changed(add={"name": "qty", "type": "double"})))
    problems = check_against_git("HEAD", repo)
    assert any(p.startswith("Trade.avsc: BACKWARD") for p in problems)

    trade.unlink()
    assert any("Trade.avsc: deleted" in p for p in check_against_git("HEAD", repo))


def test_git_check_with_no_commits_has_nothing_to_compare(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    assert check_against_git("HEAD", tmp_path) == []
