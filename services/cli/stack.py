"""Running services as child processes: what ``listening-path up`` and the integration tests use."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

from services.catalog import SERVICES, ServiceSpec
from shared.process import stop_process

log = logging.getLogger(__name__)


class ServiceProcess:
    """One service run as ``listening-path serve NAME`` in its own process."""

    def __init__(self, spec: ServiceSpec, *, env: Mapping[str, str], port: int, log_file: Path) -> None:
        self.spec = spec
        self.port = port
        self.env = {**env, "LP_PORT": str(port)}
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the service."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Spawn the process (does not wait for readiness)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", "serve", self.spec.name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Poll ``/readyz`` until 200; raise with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + (timeout_s or self.spec.startup_timeout_s)
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.spec.name} exited during start-up:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2.0)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.spec.name} not ready after start-up ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the process wrote."""
        try:
            return "\n".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM (graceful: drain and commit), then SIGKILL after ``timeout_s``; True if SIGTERM sufficed."""
        proc, self.proc = self.proc, None
        if proc is None or stop_process(proc, timeout_s=timeout_s):
            return True
        log.warning("service did not stop in time; killed it", extra={"service": self.spec.name})
        return False

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Stack:
    """All four services as child processes, sharing one environment (broker, database, key)."""

    def __init__(self, *, env: Mapping[str, str], ports: Mapping[str, int], log_dir: Path) -> None:
        self.processes = {
            name: ServiceProcess(spec, env=env, port=ports[name], log_file=log_dir / f"{name}.log")
            for name, spec in SERVICES.items()
        }

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def start(self) -> Stack:
        """Start every service, then wait until each is ready."""
        for proc in self.processes.values():
            proc.start()
        for proc in self.processes.values():
            proc.wait_ready()
        return self

    def stop(self) -> None:
        """Stop the services, consumers last-in first-out."""
        for proc in reversed(list(self.processes.values())):
            proc.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment with ``overrides``; Python output unbuffered so logs arrive as written."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **overrides}
