"""Resolve Apache Kafka's broker jars from Maven Central into a user cache, once.

The broker is `org.apache.kafka:kafka_2.13` plus an SLF4J→log4j2 binding (the POM ships no logging
backend). Maven resolves the runtime classpath into `~/.m2`; we keep the resulting classpath in
`<home>/<version>/classpath.txt`. Once every jar on it exists, resolution is skipped entirely, so
later starts need no network at all.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

DEFAULT_VERSION: Final = "4.4.0"
LOG4J_VERSION: Final = "2.24.3"
DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class KafkaRuntimeError(RuntimeError):
    """The broker's jars could not be resolved or Java is missing; the message says what to do."""


@dataclass(frozen=True, slots=True)
class KafkaRuntime:
    """A resolved Kafka distribution: the version, its classpath, and the logging config to use."""

    version: str
    home: Path
    classpath: str
    log4j_config: Path
    resolved_seconds: float  # 0.0 when the cache was warm

    @property
    def java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise KafkaRuntimeError("java is not on PATH: Kafka 4.x needs a Java 17+ runtime")
        return java


def _template(name: str) -> str:
    return resources.files("marketdata.kafka").joinpath("templates", name).read_text("utf-8")


def _cached_classpath(cp_file: Path) -> str | None:
    if not cp_file.is_file():
        return None
    cp = cp_file.read_text("utf-8").strip()
    jars = [Path(p) for p in cp.split(":") if p]
    if not jars or not all(j.is_file() for j in jars):
        return None
    return cp


def resolve(
    version: str = DEFAULT_VERSION,
    home: Path | None = None,
    *,
    progress: Callable[[str], None] = lambda _msg: None,
    maven_repo: Path | None = None,
) -> KafkaRuntime:
    """Return the runtime for `version`, resolving it with Maven if the cache is cold.

    `maven_repo` points Maven at another local repository (the cold-start benchmark uses an empty
    one); by default Maven's own `~/.m2/repository` is shared with every other Maven user.
    """
    home = (home or default_home()).expanduser()
    vdir = home / version
    vdir.mkdir(parents=True, exist_ok=True)
    log4j = vdir / "log4j2.properties"
    log4j.write_text(_template("log4j2.properties"), "utf-8")
    cp_file = vdir / "classpath.txt"

    started = time.monotonic()
    cached = _cached_classpath(cp_file)
    if cached is not None:
        return KafkaRuntime(version, vdir, cached, log4j, 0.0)

    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaRuntimeError(
            "Apache Kafka is not in the cache and `mvn` is not on PATH to resolve it from Maven "
            f"Central; install Maven or set KAFKA_BOOTSTRAP_SERVERS (cache: {vdir})"
        )
    pom = vdir / "pom.xml"
    pom.write_text(
        _template("kafka-runtime.pom.xml")
        .replace("@KAFKA_VERSION@", version)
        .replace("@LOG4J_VERSION@", LOG4J_VERSION),
        "utf-8",
    )
    progress(f"resolving Apache Kafka {version} from Maven Central (first run only)…")
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        f"{DEPENDENCY_PLUGIN}:build-classpath",
        f"-Dmdep.outputFile={cp_file.resolve()}",
        "-DincludeScope=runtime",
    ]
    if maven_repo is not None:
        cmd.append(f"-Dmaven.repo.local={maven_repo.resolve()}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    cp = _cached_classpath(cp_file)
    if proc.returncode != 0 or cp is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-25:]
        raise KafkaRuntimeError(
            f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} "
            f"(exit {proc.returncode}):\n" + "\n".join(tail)
        )
    elapsed = time.monotonic() - started
    progress(f"resolved Apache Kafka {version} in {elapsed:.1f}s")
    return KafkaRuntime(version, vdir, cp, log4j, elapsed)


def default_home() -> Path:
    return Path("~/.cache/crypton-marketdata/kafka").expanduser()
