"""Run the service as real processes: ``cdht serve`` and ``cdht worker`` on free ports, readiness, logs, kill -9.

Every process writes its stdout and stderr to a log file of its own (never to a pipe, which would block the
process once full); ``ProcessGroup`` starts them, stops every one of them on exit whatever happened (SIGTERM, then
SIGKILL), and on request returns the tail of each log for an assertion message.

    with ProcessGroup(tmp_path / "logs") as group:
        env = service_environment(database_url=..., data_dir=..., dev_secret=..., webhook_key=..., ...)
        run_cli(env, "migrate")
        api = group.serve(env, "api-1", workers=False)       # waits for /readyz
        worker = group.worker(env, "worker-1")
        ...
        api.kill()                                            # SIGKILL, waits for the exit
        api = group.restart(api)                              # same port, same environment
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0  # seconds; generous: the machine is shared and a start migrates or imports a lot
STOP_TIMEOUT = 15.0
LOG_TAIL = 4000  # characters of each log quoted in a failure message


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it). Another process may take it before we bind it:
    ``ProcessGroup.serve`` retries on another port when the server cannot bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def write_signing_key(path: Path) -> Path:
    """An Ed25519 private key (PEM, 0600) for CDHT_AUDIT_SIGNING_KEY_FILE."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def service_environment(
    *,
    database_url: str,
    data_dir: Path,
    dev_secret: str,
    webhook_key: str,
    signing_key_file: Path,
    now: str | None = None,
    **settings: object,
) -> dict[str, str]:
    """The environment of a service process: this interpreter's environment without any ``CDHT_`` variable (so
    nothing of the developer's shell leaks in), the repository on ``PYTHONPATH``, and the given settings.

    ``now`` freezes the clock (CDHT_NOW, ISO 8601 with an offset); further keyword settings are passed as
    ``CDHT_<NAME>`` (e.g. ``sweep_interval_seconds=0.5``)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    environment.update(
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        CDHT_ENV="test",
        CDHT_DATABASE_URL=database_url,
        CDHT_DATA_DIR=str(data_dir),
        CDHT_AUTH_DEV_SECRET=dev_secret,
        CDHT_WEBHOOK_KEY=webhook_key,
        CDHT_AUDIT_SIGNING_KEY_FILE=str(signing_key_file),
        CDHT_WORKER_METRICS_PORT="0",  # several workers per test: none serves metrics unless a test asks
    )
    if now is not None:
        environment["CDHT_NOW"] = now
    for name, value in settings.items():
        environment[f"CDHT_{name.upper()}"] = str(value)
    return environment


def sqlite_environment(
    root: Path, *, dev_secret: str, data_dir: Path | None = None, now: str | None = None, **settings: object
) -> dict[str, str]:
    """``service_environment`` of a process on its own SQLite file under ``root`` (``cdht.sqlite3``), with its
    data in ``root/data`` (or ``data_dir``), a fresh webhook key and a signing key written to ``root``."""
    return service_environment(
        database_url=f"sqlite+aiosqlite:///{root / 'cdht.sqlite3'}",
        data_dir=data_dir if data_dir is not None else root / "data",
        dev_secret=dev_secret,
        webhook_key=fernet_key(),
        signing_key_file=write_signing_key(root / "signing.pem"),
        now=now,
        **settings,
    )


def run_cli(environment: Mapping[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``cdht ARGS`` to completion (e.g. ``migrate``); raises with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=dict(environment),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cdht {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class ServiceProcess:
    """One ``cdht serve`` or ``cdht worker`` process. ``url`` is set for servers."""

    name: str
    command: list[str]
    environment: dict[str, str]
    log_path: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} is not a server")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {' '.join(self.command[2:])} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.command,
                env=self.environment,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C in the test run does not reach it; we stop it ourselves
            )
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL) -> str:
        return self.log_text()[-chars:]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, object]:
        """Poll ``GET /readyz`` until it answers 200; fail early when the process exits."""
        deadline = time.monotonic() + timeout
        last: str = "no answer"
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while True:
                if not self.alive:
                    raise ProcessFailed(self, f"exited with {self.returncode} before it was ready")
                try:
                    response = client.get(self.url + "/readyz")
                    if response.status_code == 200:
                        return response.json()
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise ProcessFailed(self, f"not ready after {timeout:.0f} s (last: {last})")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL (kill -9) and reap it: no clean-up of any kind runs in the process."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``STOP_TIMEOUT`` seconds."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()


class ProcessFailed(AssertionError):
    def __init__(self, process: ServiceProcess, message: str) -> None:
        super().__init__(f"{process.name}: {message}\n--- log tail of {process.name} ---\n{process.log_tail()}")


def _bind_failed(process: ServiceProcess) -> bool:
    text = process.log_text().lower()
    return "address already in use" in text or "errno 98" in text


class ProcessGroup:
    """The service processes of one test; every one is stopped on exit, even when the test fails."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ServiceProcess] = []

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        errors = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                errors.append(exc)
        for process in self.processes:  # the last resort: never leave a process behind
            if process.alive:
                process.kill()
        if errors:
            raise errors[0]

    def _command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "service.cli", *args]

    def serve(
        self,
        environment: Mapping[str, str],
        name: str,
        *,
        migrate: bool = False,
        workers: bool = False,
        port: int | None = None,
        ready_timeout: float = READY_TIMEOUT,
        extra_args: tuple[str, ...] = (),
    ) -> ServiceProcess:
        """``cdht serve`` on a free port (or ``port``), waited for until ``/readyz`` answers 200.

        By default ``--no-migrate --no-workers``: the API alone, as one of several replicas. ``extra_args`` go
        on its command line (e.g. ``("--workers", "2")``)."""
        attempts = 1 if port is not None else 3
        for attempt in range(attempts):
            chosen = port or free_port()
            args = ["serve", "--host", "127.0.0.1", "--port", str(chosen)]
            if not migrate:
                args.append("--no-migrate")
            if not workers:
                args.append("--no-workers")
            args.extend(extra_args)
            process = ServiceProcess(
                name=name,
                command=self._command(*args),
                environment=dict(environment),
                log_path=self.log_dir / f"{name}.log",
                port=chosen,
            )
            self.processes.append(process)
            process.start()
            try:
                process.wait_ready(ready_timeout)
                return process
            except ProcessFailed:
                if attempt + 1 < attempts and not process.alive and _bind_failed(process):
                    continue  # someone took the port between free_port() and the bind: try another one
                raise
        raise AssertionError("unreachable")

    def restart(self, process: ServiceProcess, *, ready_timeout: float = READY_TIMEOUT) -> ServiceProcess:
        """The same command and environment (a server on the same port) in a new process, once the old one has
        exited; waited for until ready when it is a server. The port may linger briefly after a kill -9: retried."""
        if process.alive:
            raise RuntimeError(f"{process.name} is still running (pid {process.pid})")
        deadline = time.monotonic() + ready_timeout
        while True:
            again = ServiceProcess(
                name=process.name,
                command=list(process.command),
                environment=dict(process.environment),
                log_path=process.log_path,
                port=process.port,
            )
            self.processes.append(again)
            again.start()
            if again.port is None:
                return again
            try:
                again.wait_ready(max(1.0, deadline - time.monotonic()))
                return again
            except ProcessFailed:
                if not again.alive and _bind_failed(again) and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                raise

    def worker(self, environment: Mapping[str, str], name: str) -> ServiceProcess:
        """``cdht worker`` (the deadline sweeper, the webhook dispatcher, the checkpointer). Not waited for: a worker
        serves nothing; wait for its effects in the database."""
        process = ServiceProcess(
            name=name,
            command=self._command("worker"),
            environment=dict(environment),
            log_path=self.log_dir / f"{name}.log",
        )
        self.processes.append(process)
        return process.start()

    def check_alive(self) -> None:
        """Fail, quoting its log, when a process this group started (and did not mean to stop) has died."""
        latest: dict[str, ServiceProcess] = {}
        for process in self.processes:
            latest[process.name] = process
        for process in latest.values():
            if not process.alive:
                raise ProcessFailed(process, f"died unexpectedly (exit {process.returncode})")

    def logs(self) -> str:
        """The tail of every process's log, for a failure message."""
        seen: dict[Path, ServiceProcess] = {}
        for process in self.processes:
            seen[process.log_path] = process
        return "\n".join(f"--- {p.name} ({p.log_path}) ---\n{p.log_tail()}" for p in seen.values())
