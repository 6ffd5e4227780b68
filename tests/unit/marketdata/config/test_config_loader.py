"""Loading the configuration: the spec's file unchanged, every problem at its exact path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from config_samples import KEY, KEYS_ENV, ROOT, SECRET, SPEC, variant, write

from marketdata.config import BUILTIN_YAML, MASK, ConfigError, config_path_from, load_config


def problems_of(path: Path | None, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env or {})
    found = {p.path: p.message for p in info.value.problems}
    assert len(found) == len(info.value.problems), "one problem per path"
    return found


def test_the_spec_file_loads_unchanged_with_an_empty_environment(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, SPEC), {})

    kraken = settings.exchanges.kraken
    assert kraken is not None
    assert settings.service.host == "localhost"
    assert settings.service.port == 5001
    assert settings.cache.price_ttl_seconds == 1
    assert settings.cache.order_book_ttl_seconds == 5
    assert settings.cache.balance_ttl_seconds == 30
    assert kraken.enabled
    assert kraken.rate_limit.requests_per_minute == 15
    assert kraken.rate_limit.requests_per_second == 5
    assert kraken.symbols == ("BTC/USD", "ETH/USD", "SOL/USD")
    assert settings.signalr.hub_path == "/hubs/marketdata"
    assert not settings.signalr.enable_authentication
    assert kraken.api_key is None
    assert kraken.secret_key is None
    assert not kraken.private_enabled
    assert settings.notices == (
        "exchanges.kraken: private data disabled: "
        "KRAKEN_API_KEY is not set, KRAKEN_SECRET is not set",
    )


def test_keys_from_the_environment_enable_private_data_and_are_never_shown(
    tmp_path: Path,
) -> None:
    settings = load_config(write(tmp_path, SPEC), KEYS_ENV)

    kraken = settings.exchanges.kraken
    assert kraken is not None
    assert kraken.private_enabled
    assert kraken.api_key is not None
    assert kraken.secret_key is not None
    assert kraken.api_key.get_secret_value() == KEY
    assert kraken.secret_key.get_secret_value() == SECRET
    assert settings.notices == ()
    dump = settings.redacted_dump()
    assert dump["marketData"]["exchanges"]["kraken"]["apiKey"] == MASK
    assert dump["marketData"]["exchanges"]["kraken"]["secretKey"] == MASK
    for text in (repr(settings), str(settings), settings.redacted_yaml(), yaml.safe_dump(dump)):
        assert KEY not in text
        assert SECRET not in text


def test_one_missing_key_disables_private_data_naming_that_variable(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, SPEC), {"KRAKEN_API_KEY": KEY})

    assert settings.exchanges.kraken is not None
    assert not settings.exchanges.kraken.private_enabled
    assert settings.notices == (
        "exchanges.kraken: private data disabled: KRAKEN_SECRET is not set",
    )


def test_no_file_means_the_spec_file(tmp_path: Path) -> None:
    assert BUILTIN_YAML == SPEC
    from_file = load_config(write(tmp_path, SPEC), KEYS_ENV)
    built_in = load_config(None, KEYS_ENV)

    assert built_in.market_data == from_file.market_data
    assert built_in.source is None
    assert load_config(None, {}).notices == load_config(write(tmp_path, SPEC), {}).notices


def test_the_example_file_is_valid_without_any_environment() -> None:
    settings = load_config(ROOT / "config.example.yaml", {})

    kraken = settings.exchanges.kraken
    assert kraken is not None
    assert kraken.urls("kraken") == (
        "wss://ws.kraken.com/v2",
        "wss://ws-auth.kraken.com/v2",
        "https://api.kraken.com",
    )
    assert settings.kafka.bootstrap_servers is None
    assert settings.kafka.local.version == "4.4.0"
    assert not settings.kafka.local.home.is_relative_to("~")
    assert settings.processors.indicators.macd.slow == 26
    assert [n for n in settings.notices if "private data disabled" in n]


def test_the_example_file_takes_its_overrides_from_the_environment() -> None:
    env = {
        **KEYS_ENV,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "KRAKEN_WS_URL": "ws://127.0.0.1:8100/v2",
        "MARKETDATA_PORT": "6001",
    }
    settings = load_config(ROOT / "config.example.yaml", env)

    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.service.port == 6001
    assert settings.exchanges.kraken is not None
    assert settings.exchanges.kraken.urls("kraken").ws == "ws://127.0.0.1:8100/v2"
    assert settings.exchanges.kraken.private_enabled


def test_a_missing_variable_and_a_wrong_type_are_exactly_the_two_problems(
    tmp_path: Path,
) -> None:
    text = variant(
        ("port: 5001", 'port: "${MD_PORT}"'), ("priceTtlSeconds: 1", 'priceTtlSeconds: "soon"')
    )

    problems = problems_of(write(tmp_path, text))

    assert set(problems) == {"marketData.service.port", "marketData.cache.priceTtlSeconds"}
    assert "environment variable MD_PORT is not set" in problems["marketData.service.port"]
    assert "valid number" in problems["marketData.cache.priceTtlSeconds"]


def test_every_missing_variable_is_listed_at_once(tmp_path: Path) -> None:
    text = variant(
        ('host: "localhost"', 'host: "${MD_HOST}"'),
        ('hubPath: "/hubs/marketdata"', 'hubPath: "/${HUB_A}/${HUB_B}"'),
    )

    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})

    messages = [str(p) for p in info.value.problems]
    assert [m.split(":")[0] for m in messages] == [
        "marketData.service.host",
        "marketData.signalr.hubPath",
        "marketData.signalr.hubPath",
    ]
    assert all(v in "\n".join(messages) for v in ("MD_HOST", "HUB_A", "HUB_B"))
    assert str(info.value).splitlines()[1:] == [f"  {m}" for m in messages]


def test_a_number_from_the_environment_is_coerced(tmp_path: Path) -> None:
    text = variant(("port: 5001", 'port: "${MD_PORT:-5002}"'))
    assert load_config(write(tmp_path, text), {}).service.port == 5002
    assert load_config(write(tmp_path, text), {"MD_PORT": "7000"}).service.port == 7000


def test_a_malformed_reference_is_a_problem(tmp_path: Path) -> None:
    text = variant(('secretKey: "${KRAKEN_SECRET}"', 'secretKey: "${KRAKEN_SECRET"'))
    problems = problems_of(write(tmp_path, text), KEYS_ENV)
    assert "malformed" in problems["marketData.exchanges.kraken.secretKey"]


def test_unknown_keys_are_errors_with_their_path_and_a_suggestion(tmp_path: Path) -> None:
    text = variant(("hubPath:", "hubPth:"), ("    kraken:", "    kraken:\n      colour: red"))

    problems = problems_of(write(tmp_path, text))

    assert problems["marketData.signalr.hubPth"] == "unknown key; did you mean 'hubPath'?"
    assert problems["marketData.exchanges.kraken.colour"].startswith("unknown key")


def test_an_unknown_exchange_is_an_error_naming_the_known_ones(tmp_path: Path) -> None:
    text = variant(("  exchanges:\n", "  exchanges:\n    bitfinex: {}\n"))
    problems = problems_of(write(tmp_path, text))
    assert problems["marketData.exchanges.bitfinex"] == (
        "unknown key (expected one of: kraken, binance, coinbase)"
    )


@pytest.mark.parametrize("bad", ["btc/usd", "BTCUSD", "BTC-USD", "B/USD", "BTC/USD/EUR"])
def test_a_bad_symbol_is_reported_at_its_list_index_with_the_expected_form(
    tmp_path: Path, bad: str
) -> None:
    problems = problems_of(write(tmp_path, variant(('- "ETH/USD"', f'- "{bad}"'))))

    assert list(problems) == ["marketData.exchanges.kraken.symbols[1]"]
    message = problems["marketData.exchanges.kraken.symbols[1]"]
    assert "expected BASE/QUOTE" in message
    assert "'BTC/USD'" in message


def test_a_near_miss_symbol_gets_its_canonical_spelling_suggested(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, variant(('- "ETH/USD"', '- "eth-usd"'))))
    assert problems["marketData.exchanges.kraken.symbols[1]"].endswith("did you mean 'ETH/USD'?")


def test_a_duplicate_symbol_is_reported_at_the_repeat(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, variant(('- "SOL/USD"', '- "BTC/USD"'))))
    assert problems == {
        "marketData.exchanges.kraken.symbols[2]": "duplicate of symbols[0] (BTC/USD)"
    }


def test_authentication_without_api_keys_names_both_paths(tmp_path: Path) -> None:
    text = variant(("enableAuthentication: false", "enableAuthentication: true"))

    problems = problems_of(write(tmp_path, text))

    message = problems["marketData.signalr.enableAuthentication"]
    assert "marketData.service.apiKeys is empty" in message


def test_authentication_without_api_keys_is_reported_alongside_other_problems(
    tmp_path: Path,
) -> None:
    text = variant(
        ("enableAuthentication: false", "enableAuthentication: true"),
        ('- "ETH/USD"', '- "ETH-USD"'),
    )
    assert set(problems_of(write(tmp_path, text))) == {
        "marketData.exchanges.kraken.symbols[1]",
        "marketData.signalr.enableAuthentication",
    }


def test_authentication_with_an_api_key_from_the_environment(tmp_path: Path) -> None:
    text = variant(
        ("port: 5001", 'port: 5001\n    apiKeys: ["${MD_API_KEY}"]'),
        ("enableAuthentication: false", "enableAuthentication: true"),
    )
    path = write(tmp_path, text)

    settings = load_config(path, {"MD_API_KEY": "api-key-123456"})
    assert [k.get_secret_value() for k in settings.service.api_keys] == ["api-key-123456"]
    assert "api-key-123456" not in settings.redacted_yaml()
    # An API key is not an exchange key: a missing one is fatal.
    assert "MD_API_KEY" in problems_of(path)["marketData.service.apiKeys[0]"]


def test_a_wrongly_typed_secret_is_not_echoed(tmp_path: Path) -> None:
    text = variant(('apiKey: "${KRAKEN_API_KEY}"', "apiKey: [hunter2-secret-value]"))

    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), {})

    assert [p.path for p in info.value.problems] == ["marketData.exchanges.kraken.apiKey"]
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value)


def test_no_input_value_appears_in_any_problem(tmp_path: Path) -> None:
    text = variant(
        ("port: 5001", "port: hunter2-port"),
        ("priceTtlSeconds: 1", "priceTtlSeconds: hunter2-ttl"),
        ("hubPath:", "hubPath: hunter2-hub\n    x:"),
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), KEYS_ENV)
    assert len(info.value.problems) == 4
    assert "hunter2" not in str(info.value)


def test_the_masked_placeholder_is_refused_as_a_key(tmp_path: Path) -> None:
    text = variant(('apiKey: "${KRAKEN_API_KEY}"', f'apiKey: "{MASK}"'))
    problems = problems_of(write(tmp_path, text), KEYS_ENV)
    assert "config show" in problems["marketData.exchanges.kraken.apiKey"]


def test_keys_are_read_from_mounted_secret_files(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    (tmp_path / "secret").write_text(SECRET)
    text = variant(
        ('apiKey: "${KRAKEN_API_KEY}"', f"apiKeyFile: {tmp_path / 'key'}"),
        ('secretKey: "${KRAKEN_SECRET}"', f"secretKeyFile: {tmp_path / 'secret'}"),
    )

    settings = load_config(write(tmp_path, text), {})

    kraken = settings.exchanges.kraken
    assert kraken is not None
    assert kraken.private_enabled
    assert kraken.api_key is not None
    assert kraken.api_key.get_secret_value() == KEY  # the trailing newline is not part of it
    assert kraken.api_key_file == tmp_path / "key"
    assert settings.notices == ()
    assert KEY not in settings.redacted_yaml()


def test_a_key_file_stands_in_for_an_unset_variable(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY)
    text = variant(('apiKey: "${KRAKEN_API_KEY}"', f"apiKeyFile: {tmp_path / 'key'}"))

    settings = load_config(write(tmp_path, text), {"KRAKEN_SECRET": SECRET})

    assert settings.exchanges.kraken is not None
    assert settings.exchanges.kraken.private_enabled


def test_a_key_and_a_key_file_together_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY)
    text = variant(
        (
            'apiKey: "${KRAKEN_API_KEY}"',
            f'apiKey: "${{KRAKEN_API_KEY}}"\n      apiKeyFile: {tmp_path / "key"}',
        )
    )
    problems = problems_of(write(tmp_path, text), KEYS_ENV)
    assert problems["marketData.exchanges.kraken.apiKeyFile"] == (
        "set apiKey or apiKeyFile, not both"
    )


def test_an_empty_key_file_disables_private_data_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n")
    text = variant(('apiKey: "${KRAKEN_API_KEY}"', f"apiKeyFile: {tmp_path / 'key'}"))

    settings = load_config(write(tmp_path, text), KEYS_ENV)

    assert settings.notices == (
        f"exchanges.kraken: private data disabled: apiKeyFile {tmp_path / 'key'} is empty",
    )


def test_an_unreadable_key_file_is_a_problem(tmp_path: Path) -> None:
    text = variant(('apiKey: "${KRAKEN_API_KEY}"', f"apiKeyFile: {tmp_path / 'absent'}"))
    problems = problems_of(write(tmp_path, text))
    assert "cannot read secret file" in problems["marketData.exchanges.kraken.apiKeyFile"]


def test_a_disabled_exchange_gives_no_notice(tmp_path: Path) -> None:
    text = variant(("enabled: true", "enabled: false"))
    assert load_config(write(tmp_path, text), {}).notices == ()


def test_yaml_syntax_errors_say_line_and_column(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "marketData:\n  service: [unclosed\n"))
    [(where, message)] = problems.items()
    assert where.startswith("line 3, column 1")
    assert message.startswith("YAML syntax error")


def test_a_duplicate_key_is_a_syntax_error_not_a_silent_override(tmp_path: Path) -> None:
    text = SPEC + "  signalr:\n    enableAuthentication: true\n"
    problems = problems_of(write(tmp_path, text))
    [(where, message)] = problems.items()
    assert where == "line 24, column 3"
    assert message == "invalid YAML: duplicate key 'signalr' (first at line 21)"


def test_files_that_are_absent_empty_or_not_a_mapping_are_clear_errors(tmp_path: Path) -> None:
    assert "cannot read" in problems_of(tmp_path / "absent.yaml")["(file)"]
    assert "cannot read" in problems_of(tmp_path)["(file)"]
    assert "got a list" in problems_of(write(tmp_path, "- a\n- b\n"))["(top level)"]
    assert "got an empty document" in problems_of(write(tmp_path, ""))["(top level)"]
    invalid = tmp_path / "latin1.yaml"
    invalid.write_bytes(b"marketData: {service: {host: \xe9}}\n")
    assert "not UTF-8" in problems_of(invalid)["(file)"]


def test_the_error_carries_its_source_and_is_not_retryable(tmp_path: Path) -> None:
    path = write(tmp_path, variant(("port: 5001", "port: 0")))
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.source == path
    assert not info.value.retryable
    assert str(info.value).startswith(f"{path} is invalid (1 problem):")


def test_config_path_comes_from_the_flag_then_the_environment() -> None:
    assert config_path_from("a.yaml", {"MARKETDATA_CONFIG": "b.yaml"}) == Path("a.yaml")
    assert config_path_from(None, {"MARKETDATA_CONFIG": "b.yaml"}) == Path("b.yaml")
    assert config_path_from(None, {"MARKETDATA_CONFIG": " "}) is None
    assert config_path_from(None, {}) is None
    assert config_path_from("~/x.yaml", {}) == Path.home() / "x.yaml"


def test_the_process_environment_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", KEY)
    monkeypatch.setenv("KRAKEN_SECRET", SECRET)
    settings = load_config(write(tmp_path, SPEC))
    assert settings.exchanges.kraken is not None
    assert settings.exchanges.kraken.private_enabled
