"""`marketdata config check|show`, through the parser the top-level CLI builds."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml
from config_samples import KEY, ROOT, SECRET, SPEC, variant, write

from marketdata.cli import config_cmd

Capture = pytest.CaptureFixture[str]


def run(*argv: str, config: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marketdata")
    config_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.config = config  # the global --config, as marketdata.cli.main sets it
    code: int = args.func(args)
    return code


@pytest.fixture(autouse=True)
def no_config_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MARKETDATA_CONFIG", "KRAKEN_API_KEY", "KRAKEN_SECRET", "MD_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_check_accepts_the_spec_file_and_prints_the_notices(
    tmp_path: Path, capsys: Capture
) -> None:
    path = write(tmp_path, SPEC)

    assert run("config", "check", str(path)) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok: {path}"
    assert out[1].startswith("notice: exchanges.kraken: private data disabled: KRAKEN_API_KEY")


def test_check_accepts_the_example_file_without_any_environment(capsys: Capture) -> None:
    assert run("config", "check", str(ROOT / "config.example.yaml")) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_check_exits_2_listing_every_problem_on_stderr(tmp_path: Path, capsys: Capture) -> None:
    path = write(
        tmp_path,
        variant(("port: 5001", 'port: "${MD_PORT}"'), ("priceTtlSeconds: 1", "priceTtlSeconds: x")),
    )

    assert run("config", "check", str(path)) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[0] == f"{path}: 2 problems"
    assert lines[1].startswith("marketData.service.port: environment variable MD_PORT is not set")
    assert lines[2].startswith("marketData.cache.priceTtlSeconds: ")


def test_check_exits_2_for_a_missing_file(tmp_path: Path, capsys: Capture) -> None:
    assert run("config", "check", str(tmp_path / "absent.yaml")) == 2
    assert "(file): cannot read" in capsys.readouterr().err


def test_show_prints_the_effective_yaml_with_secrets_masked(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", KEY)
    monkeypatch.setenv("KRAKEN_SECRET", SECRET)

    assert run("config", "show", str(write(tmp_path, SPEC))) == 0

    captured = capsys.readouterr()
    shown = yaml.safe_load(captured.out)
    assert shown["marketData"]["exchanges"]["kraken"]["apiKey"] == "**********"
    assert shown["marketData"]["exchanges"]["kraken"]["secretKey"] == "**********"
    assert shown["marketData"]["kafka"]["local"]["version"] == "4.4.0"
    assert KEY not in captured.out + captured.err
    assert SECRET not in captured.out + captured.err


def test_show_falls_back_to_the_global_config_then_the_environment(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    flagged = write(tmp_path, variant(("port: 5001", "port: 5101")), "flag.yaml")
    from_env = write(tmp_path, variant(("port: 5001", "port: 5201")), "env.yaml")
    monkeypatch.setenv("MARKETDATA_CONFIG", str(from_env))

    assert run("config", "show", config=str(flagged)) == 0
    assert yaml.safe_load(capsys.readouterr().out)["marketData"]["service"]["port"] == 5101
    assert run("config", "show") == 0
    assert yaml.safe_load(capsys.readouterr().out)["marketData"]["service"]["port"] == 5201


def test_show_without_any_file_prints_the_built_in_defaults(capsys: Capture) -> None:
    assert run("config", "show") == 0
    captured = capsys.readouterr()
    assert yaml.safe_load(captured.out)["marketData"]["service"]["port"] == 5001
    assert "private data disabled" in captured.err  # notices stay off stdout


def test_show_exits_2_on_an_invalid_file(tmp_path: Path, capsys: Capture) -> None:
    path = write(tmp_path, variant(("hubPath:", "hubPth:")))
    assert run("config", "show", str(path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "marketData.signalr.hubPth: unknown key" in captured.err
