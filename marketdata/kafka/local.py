"""A real Apache Kafka broker (or a 3-node KRaft cluster) on loopback, without Docker.

Each node is a `kafka.Kafka` JVM in combined broker+controller mode with a static controller quorum
(`controller.quorum.voters`), formatted once with a shared cluster id. Everything lives in one state
folder: per-node `server.properties`, data and `broker.log`, and `cluster.json`, which records the
pids we started so `stop()` ends exactly those processes and nothing else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Literal, Self

from marketdata.kafka.probe import wait_for_brokers
from marketdata.kafka.runtime import KafkaRuntime

STATE_FILE: Final = "cluster.json"
_JVM_FLAGS: Final = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
JitMode = Literal["tiered", "quick"]
_JIT_FLAGS: Final[dict[str, tuple[str, ...]]] = {
    # The JVM's default: C1 first, C2 for hot code. Costs CPU while warming up, then serves a
    # sustained load with about a quarter less broker CPU than C1 alone (docs/benchmarks.md).
    "tiered": (),
    # C1 only: a broker on a 2-core machine starts for less CPU; right for short-lived test brokers.
    "quick": ("-XX:TieredStopAtLevel=1",),
}


class LocalKafkaError(RuntimeError):
    """The local broker could not be started or stopped; the message carries the broker's words."""


@dataclass(slots=True)
class NodeState:
    node_id: int
    port: int
    controller_port: int
    pid: int
    log: str
    data_dir: str


@dataclass(slots=True)
class ClusterState:
    version: str
    cluster_id: str
    bootstrap: str
    state_dir: str
    started_at: float
    nodes: list[NodeState] = field(default_factory=list)

    def save(self, state_dir: Path) -> None:
        tmp = state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), "utf-8")
        tmp.replace(state_dir / STATE_FILE)

    @classmethod
    def load(cls, state_dir: Path) -> ClusterState | None:
        path = state_dir / STATE_FILE
        if not path.is_file():
            return None
        raw = json.loads(path.read_text("utf-8"))
        nodes = [NodeState(**n) for n in raw.pop("nodes")]
        return cls(**raw, nodes=nodes)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _new_cluster_id() -> str:
    # Kafka never issues an id starting with '-'; StorageTool would read one as a flag.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def is_our_broker(pid: int, state_dir: Path) -> bool:
    """True when `pid` is alive and is the kafka.Kafka JVM started for this state folder.

    Guards against pid reuse: a recycled pid running something else is never signalled.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in cmdline]
    return "kafka.Kafka" in args and any(str(state_dir) in a for a in args)


def _server_properties(
    node_id: int,
    port: int,
    voters: str,
    data_dir: Path,
    nodes: int,
) -> str:
    rf = 3 if nodes >= 3 else 1
    isr = 2 if nodes >= 3 else 1
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:"
        f"{voters.split(',')[node_id - 1].rsplit(':', 1)[1]}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(isr),
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(isr),
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(isr),
        "unclean.leader.election.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.retention.check.interval.ms": "30000",
        "log.cleaner.backoff.ms": "1000",
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        "replica.lag.time.max.ms": "5000",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


class LocalKafka:
    """Start, probe and stop a local KRaft cluster of 1 or 3 nodes.

    Usable as a context manager (tests) or through `start()`/`stop()` with the state persisted in
    `state_dir` (the CLI's `kafka up`/`kafka down`, which run in different processes).
    """

    def __init__(
        self,
        runtime: KafkaRuntime,
        state_dir: Path,
        *,
        nodes: int = 1,
        port: int = 0,
        heap_mb: int = 512,
        jit: JitMode = "tiered",
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        if nodes not in (1, 3):
            raise ValueError("nodes must be 1 or 3")
        if jit not in _JIT_FLAGS:
            raise ValueError(f"jit must be one of {', '.join(_JIT_FLAGS)}, not {jit!r}")
        self.jit = jit
        self.runtime = runtime
        self.state_dir = state_dir.resolve()
        self.nodes = nodes
        self.port = port
        self.heap_mb = heap_mb
        self.progress = progress
        self.state: ClusterState | None = None
        # Popen handles of the nodes we started in this process, so they are reaped, not leaked.
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def bootstrap(self) -> str:
        if self.state is None:
            raise LocalKafkaError("the local broker is not running")
        return self.state.bootstrap

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ---- lifecycle -----------------------------------------------------------------------------

    def _ports(self) -> list[tuple[int, int]]:
        ports: list[tuple[int, int]] = []
        for i in range(self.nodes):
            port = self.port + i if self.port else free_port()
            if not port_is_free(port):
                raise LocalKafkaError(f"port {port} on 127.0.0.1 is in use; choose another --port")
            ports.append((port, free_port()))
        return ports

    def _java(self, main: str, *args: str, heap_mb: int, jit: JitMode | None = None) -> list[str]:
        return [
            self.runtime.java,
            f"-Xms{min(256, heap_mb)}m",
            f"-Xmx{heap_mb}m",
            *_JVM_FLAGS,
            *_JIT_FLAGS[jit or self.jit],
            f"-Dlog4j2.configurationFile={self.runtime.log4j_config}",
            f"-Dkafka.logs.dir={self.state_dir}/logs",
            "-cp",
            self.runtime.classpath,
            main,
            *args,
        ]

    def start(self, timeout: float = 90.0) -> ClusterState:
        existing = ClusterState.load(self.state_dir)
        if existing and any(is_our_broker(n.pid, self.state_dir) for n in existing.nodes):
            raise LocalKafkaError(
                f"a local Kafka is already running from {self.state_dir} at {existing.bootstrap}; "
                "run `marketdata kafka down` first"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        ports = self._ports()
        voters = ",".join(f"{i + 1}@127.0.0.1:{cp}" for i, (_p, cp) in enumerate(ports))
        cid = _new_cluster_id()
        state = ClusterState(
            version=self.runtime.version,
            cluster_id=cid,
            bootstrap=",".join(f"127.0.0.1:{p}" for p, _cp in ports),
            state_dir=str(self.state_dir),
            started_at=time.time(),
        )
        heap = self.heap_mb if self.nodes == 1 else max(384, self.heap_mb * 3 // 4)
        for i, (port, cport) in enumerate(ports):
            node_id = i + 1
            ndir = self.state_dir / f"node{node_id}"
            data = ndir / "data"
            if ndir.exists():  # a fresh cluster id needs fresh storage
                shutil.rmtree(ndir)
            data.mkdir(parents=True)
            cfg = ndir / "server.properties"
            cfg.write_text(_server_properties(node_id, port, voters, data, self.nodes), "utf-8")
            self.progress(f"formatting node {node_id} storage")
            fmt = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cid}",
                    "-c",
                    str(cfg),
                    "--ignore-formatted",
                    heap_mb=256,
                    jit="quick",  # a one-shot tool: C2 would only burn CPU
                ),
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            if fmt.returncode != 0:
                raise LocalKafkaError(
                    f"formatting node {node_id} failed (exit {fmt.returncode}):\n"
                    + (fmt.stdout + fmt.stderr)[-3000:]
                )
            log = ndir / "broker.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    self._java("kafka.Kafka", str(cfg), heap_mb=heap),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C on the CLI must not kill a detached broker
                )
            self._procs.append(proc)
            state.nodes.append(NodeState(node_id, port, cport, proc.pid, str(log), str(data)))
        state.save(self.state_dir)
        self.state = state
        self.progress(f"waiting for {self.nodes} broker(s) at {state.bootstrap}")
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.progress(f"Kafka {self.runtime.version} ready in {time.monotonic() - started:.1f}s")
        return state

    def _wait_ready(self, timeout: float) -> None:
        assert self.state is not None
        deadline = time.monotonic() + timeout
        for node in self.state.nodes:
            if not _alive(node.pid):
                raise LocalKafkaError(_exit_report(node))
        try:
            wait_for_brokers(
                self.state.bootstrap,
                self.nodes,
                deadline=deadline,
                still_running=lambda: all(_alive(n.pid) for n in self.state.nodes),  # type: ignore[union-attr]
            )
        except TimeoutError as exc:
            dead = [n for n in self.state.nodes if not _alive(n.pid)]
            detail = "\n".join(_exit_report(n) for n in dead) or _log_tail(self.state.nodes[0])
            raise LocalKafkaError(f"{exc}\n{detail}") from None

    def stop(self, grace: float = 15.0) -> list[int]:
        """Stop exactly the processes this cluster started; returns the pids signalled."""
        pids = stop_cluster(self.state_dir, grace)
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        self._procs.clear()
        self.state = None
        return pids

    def kill_node(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        """Fault injection for tests: signal one node (kill -9 by default)."""
        state = self.state or ClusterState.load(self.state_dir)
        if state is None:
            raise LocalKafkaError("the local broker is not running")
        node = next(n for n in state.nodes if n.node_id == node_id)
        if is_our_broker(node.pid, self.state_dir):
            os.kill(node.pid, sig)
            _reap(node.pid)

    def restart_node(self, node_id: int) -> None:
        """Fault injection for tests: start a stopped node again on its data, port and config
        (the caller waits for it with `wait_for_brokers`)."""
        if self.state is None:
            raise LocalKafkaError("the local broker is not running")
        node = next(n for n in self.state.nodes if n.node_id == node_id)
        if is_our_broker(node.pid, self.state_dir):
            raise LocalKafkaError(f"node {node_id} is still running (pid {node.pid})")
        heap = self.heap_mb if self.nodes == 1 else max(384, self.heap_mb * 3 // 4)
        config = Path(node.data_dir).parent / "server.properties"
        with Path(node.log).open("ab") as out:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(config), heap_mb=heap),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._procs.append(proc)
        node.pid = proc.pid
        self.state.save(self.state_dir)


def stop_cluster(state_dir: Path, grace: float = 15.0) -> list[int]:
    """Stop the processes recorded in `state_dir` (and only those); returns the pids signalled."""
    state_dir = state_dir.resolve()
    state = ClusterState.load(state_dir)
    if state is None:
        return []
    ours = [n.pid for n in state.nodes if is_our_broker(n.pid, state_dir)]
    for pid in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in ours):
        time.sleep(0.1)
    for pid in ours:
        if _alive(pid):  # a node without quorum can hang in controlled shutdown
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for pid in ours:
        _reap(pid)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return ours


def status(state_dir: Path) -> tuple[ClusterState | None, dict[int, bool]]:
    """The recorded cluster and, per node id, whether its process is alive."""
    state = ClusterState.load(state_dir.resolve())
    if state is None:
        return None, {}
    return state, {n.node_id: is_our_broker(n.pid, state_dir.resolve()) for n in state.nodes}


def _alive(pid: int) -> bool:
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie that is not our child still answers kill(0); /proc tells the truth.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _log_tail(node: NodeState, lines: int = 40) -> str:
    try:
        text = Path(node.log).read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return f"(no log at {node.log})"
    return f"--- last lines of {node.log} ---\n" + "\n".join(text[-lines:])


def _exit_report(node: NodeState) -> str:
    return f"Kafka node {node.node_id} (pid {node.pid}) exited during start-up.\n{_log_tail(node)}"
