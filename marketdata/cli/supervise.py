"""A small process supervisor for `marketdata run`: children with prefixed logs, restarted on crash.

Each part runs as its own `python -m marketdata ...` process, exactly as in production, with its
output prefixed by its name. A child that exits unexpectedly is restarted with capped back-off;
stopping sends SIGTERM to every child, then SIGKILL to any that outlive the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Child:
    name: str
    args: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    on_line: Callable[[str], None] | None = None
    process: subprocess.Popen[str] | None = None
    restarts: int = 0
    started_at: float = 0.0


class Supervisor:
    def __init__(self, *, out: Callable[[str], None] = print, grace: float = 10.0) -> None:
        self.children: list[Child] = []
        self._out = out
        self._grace = grace
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self, child: Child) -> Child:
        self.children.append(child)
        self._spawn(child)
        threading.Thread(
            target=self._watch, args=(child,), daemon=True, name=f"watch-{child.name}"
        ).start()
        return child

    def _spawn(self, child: Child) -> None:
        env = {**os.environ, **child.env, "PYTHONUNBUFFERED": "1"}
        child.process = subprocess.Popen(
            [sys.executable, "-m", "marketdata", *child.args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        child.started_at = time.monotonic()
        threading.Thread(
            target=self._pump, args=(child, child.process), daemon=True, name=f"log-{child.name}"
        ).start()

    def _pump(self, child: Child, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        width = max(len(c.name) for c in self.children) if self.children else len(child.name)
        # Closed when the child's output ends, not left to the GC; stop() may close it first.
        with process.stdout, contextlib.suppress(ValueError, OSError):
            for line in process.stdout:
                text = line.rstrip("\n")
                with self._lock:
                    self._out(f"{child.name:>{width}} | {text}")
                if child.on_line is not None:
                    child.on_line(text)

    def _watch(self, child: Child) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            process = child.process
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - child.started_at
            delay = 1.0 if lived > 30 else min(delay * 2, 30.0)
            with self._lock:
                self._out(f"{child.name} exited with {code}; restarting in {delay:.0f}s")
            if self._stopping.wait(delay):
                return
            child.restarts += 1
            self._spawn(child)

    def stop(self) -> None:
        self._stopping.set()
        live = [
            c.process for c in reversed(self.children) if c.process and c.process.poll() is None
        ]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace
        for process in live:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in self.children:  # let the log pumps drain and close their pipes
            if child.process is not None and child.process.stdout is not None:
                with contextlib.suppress(OSError, ValueError):
                    child.process.stdout.close()
