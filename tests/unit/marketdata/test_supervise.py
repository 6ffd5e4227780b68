"""The `marketdata run` supervisor: prefixed output, restart after a crash, clean stop."""

from __future__ import annotations

import time

from marketdata.cli.supervise import Child, Supervisor


def test_a_crashing_child_is_restarted_and_its_output_prefixed() -> None:
    lines: list[str] = []
    supervisor = Supervisor(out=lines.append, grace=5)
    child = supervisor.start(Child("cfg", ["config", "check", "/nonexistent.yaml"]))
    deadline = time.monotonic() + 20
    while child.restarts < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    supervisor.stop()
    assert child.restarts >= 1
    assert any(line.startswith("cfg | ") and "cannot read" in line for line in lines)
    assert any("cfg exited with 2; restarting" in line for line in lines)


def test_stop_terminates_a_long_running_child() -> None:
    supervisor = Supervisor(out=lambda _l: None, grace=10)
    child = supervisor.start(Child("sim", ["simulate", "kraken", "--port", "0"]))
    time.sleep(2)
    assert child.process is not None
    assert child.process.poll() is None
    supervisor.stop()
    assert child.process.poll() is not None
    assert child.restarts == 0
