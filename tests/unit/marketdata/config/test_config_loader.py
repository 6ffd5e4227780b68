"""Loading the configuration: the spec's file unchanged, every problem with its exact path."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from marketdata.cli import config_cmd
from marketdata.config import ConfigError, config_path_from, load_config

SPEC = """\
marketData:
  service:
    host: "localhost"
    port: 5001
  cache:
    priceTtlSeconds: 1
    orderBookTtlSeconds: 5
    balanceTtlSeconds: 30
  exchanges:
    kraken:
      enabled: true
      apiKey: "${KRAKEN_API_KEY}"
      secretKey: "${KRAKEN_SECRET}"
      rateLimit:
        requestsPerMinute: 15
        requestsPerSecond: 5
      symbols:
        - "BTC/USD"
        - "ETH/USD"
        - "SOL/USD"
  signalr:
    hubPath: "/hubs/marketdata"
    enableAuthentication: false
"""
ROOT = Path(__file__).resolve().parents[4]
KEY, SECRET = "kraken-key-7f3a", "c2VjcmV0LXNlY3JldC1zZWNyZXQ="


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def _problems(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    return {p.path: p.message for p in info.value.problems}


def test_the_spec_file_loads_unchanged_without_keys_and_disables_private_data(
    tmp_path: Path,
) -> None:
    settings = load_config(_write(tmp_path, SPEC), {})

    kraken = settings.exchanges.kraken
    assert kraken is not None
    assert kraken.symbols == ["BTC/USD", "ETH/USD", "SOL/USD"]
    assert kraken.rate_limit.requests_per_second == 5
    assert kraken.rate_limit.requests_per_minute == 15
    assert settings.service.port == 5001
    assert settings.cache.order_book_ttl_seconds == 5
    assert settings.signalr.hub_path == "/hubs/marketdata"
    assert not kraken.private_enabled
    assert any("private data disabled: KRAKEN_API_KEY is not set" in n for n in settings.notices)


def test_keys_from_the_environment_enable_private_data_and_stay_masked(tmp_path: Path) -> None:
    settings = load_config(_write(tmp_path, SPEC), {"KRAKEN_API_KEY": KEY, "KRAKEN_SECRET": SECRET})

    kraken = settings.exchanges.kraken
    assert kraken is not None
    assert kraken.private_enabled
    assert kraken.api_key is not None
    assert kraken.api_key.get_secret_value() == KEY
    assert settings.notices == ()
    for text in (repr(settings), str(settings), yaml.safe_dump(settings.redacted_dump())):
        assert KEY not in text
        assert SECRET not in text
    assert settings.redacted_dump()["marketData"]["exchanges"]["kraken"]["apiKey"] == "**********"


def test_the_example_file_is_valid_without_any_environment() -> None:
    settings = load_config(ROOT / "config.example.yaml", {})
    assert settings.kafka.local.version == "4.4.0"
    assert settings.kafka.bootstrap_servers is None
    assert settings.exchanges.kraken is not None
    assert settings.exchanges.kraken.urls("kraken")[0] == "wss://ws.kraken.com/v2"


def test_a_missing_variable_and_a_wrong_type_are_both_reported_with_their_paths(
    tmp_path: Path,
) -> None:
    text = SPEC.replace("port: 5001", 'port: "${MD_PORT}"').replace(
        "priceTtlSeconds: 1", 'priceTtlSeconds: "soon"'
    )
    problems = _problems(_write(tmp_path, text))

    assert set(problems) == {"marketData.service.port", "marketData.cache.priceTtlSeconds"}
    assert "MD_PORT is not set" in problems["marketData.service.port"]
    assert "number" in problems["marketData.cache.priceTtlSeconds"]


def test_unknown_keys_bad_symbols_and_duplicates_name_their_paths(tmp_path: Path) -> None:
    text = SPEC.replace('"SOL/USD"', '"sol-usd"').replace("hubPath:", "hubPth:")
    problems = _problems(_write(tmp_path, text))

    assert "unknown key" in problems["marketData.signalr.hubPth"]
    assert "BASE/QUOTE" in problems["marketData.exchanges.kraken.symbols[2]"]

    dupes = _problems(_write(tmp_path, SPEC.replace('- "ETH/USD"', '- "BTC/USD"')))
    assert "duplicate symbols: BTC/USD" in dupes["marketData.exchanges.kraken.symbols"]


def test_authentication_without_api_keys_is_refused(tmp_path: Path) -> None:
    problems = _problems(
        _write(tmp_path, SPEC.replace("enableAuthentication: false", "enableAuthentication: true"))
    )
    assert any("service.apiKeys is empty" in m for m in problems.values())


def test_a_wrongly_typed_secret_is_not_echoed(tmp_path: Path) -> None:
    text = SPEC.replace('apiKey: "${KRAKEN_API_KEY}"', "apiKey: [hunter2-secret]")
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text), {})
    assert "marketData.exchanges.kraken.apiKey" in str(info.value)
    assert "hunter2-secret" not in str(info.value)


def test_mounted_secret_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "secret").write_text(SECRET)
    text = SPEC.replace('apiKey: "${KRAKEN_API_KEY}"', f"apiKeyFile: {tmp_path / 'key'}").replace(
        'secretKey: "${KRAKEN_SECRET}"', f"secretKeyFile: {tmp_path / 'secret'}"
    )
    settings = load_config(_write(tmp_path, text), {})
    assert settings.exchanges.kraken is not None
    assert settings.exchanges.kraken.private_enabled
    assert settings.exchanges.kraken.api_key is not None
    assert settings.exchanges.kraken.api_key.get_secret_value() == KEY


def test_an_unreadable_secret_file_is_a_problem(tmp_path: Path) -> None:
    text = SPEC.replace('apiKey: "${KRAKEN_API_KEY}"', f"apiKeyFile: {tmp_path / 'absent'}")
    problems = _problems(_write(tmp_path, text))
    assert "cannot read secret file" in problems["marketData.exchanges.kraken.apiKeyFile"]


def test_yaml_syntax_errors_say_where(tmp_path: Path) -> None:
    problems = _problems(_write(tmp_path, "marketData:\n  service: [unclosed\n"))
    assert any(k.startswith("line ") for k in problems)


def test_a_file_that_is_not_a_mapping_or_absent_is_a_clear_error(tmp_path: Path) -> None:
    assert "expected a mapping" in _problems(_write(tmp_path, "- a\n- b\n"))["(top level)"]
    assert "cannot read" in _problems(tmp_path / "nope.yaml")["(file)"]


def test_defaults_apply_without_a_file() -> None:
    settings = load_config(None, {})
    assert settings.processors.app_id == "crypton-marketdata-v1"
    assert settings.kafka.local.nodes == 1


def test_config_path_comes_from_the_flag_then_the_environment() -> None:
    assert config_path_from("a.yaml", {"MARKETDATA_CONFIG": "b.yaml"}) == Path("a.yaml")
    assert config_path_from(None, {"MARKETDATA_CONFIG": "b.yaml"}) == Path("b.yaml")
    assert config_path_from(None, {}) is None


def test_config_check_exits_0_or_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path, SPEC)
    assert config_cmd._check(argparse.Namespace(file=good, config=None)) == 0
    assert "ok:" in capsys.readouterr().out

    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("port: 5001", 'port: "${MD_PORT}"'))
    assert config_cmd._check(argparse.Namespace(file=bad, config=None)) == 2
    assert "marketData.service.port" in capsys.readouterr().err


def test_config_show_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", KEY)
    monkeypatch.setenv("KRAKEN_SECRET", SECRET)
    assert config_cmd._show(argparse.Namespace(file=_write(tmp_path, SPEC), config=None)) == 0
    out = capsys.readouterr().out
    assert "apiKey: '**********'" in out
    assert KEY not in out
    assert SECRET not in out
