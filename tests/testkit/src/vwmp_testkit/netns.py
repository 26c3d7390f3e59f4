"""Network namespaces for fault tests: each service on its own host, links that can be cut and healed.

`Network(["storage", "engine-a", ...])` makes a bridge in the test's own (root) namespace with an
address of its own, and a namespace per name joined to the bridge by a veth pair, each with an
address in a private /24. The test process reaches every namespace through the bridge; services
in namespaces reach each other and the root namespace (`network.host_address`). `wrap(name, argv)`
runs a command inside a namespace (`ip netns exec`). `cut(a, b)` partitions two of them: a
blackhole route each way, so packets between them vanish (established connections hang, as TCP
retransmits into nothing) while both still reach everyone else; `heal(a, b)` removes the routes
and TCP delivers what waited.

Names are unique per use (the creating process id and a random tag), the subnet is one no route of
the machine uses, and everything is removed on exit, after a failure too. Namespaces left by a
process that died without cleaning up (SIGKILL) are swept by the next `Network`. Needs root and `ip`
(iproute2; `make test-faults` installs it when missing).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Sequence
from types import TracebackType

PREFIX = "vwmp-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]+-")


def available() -> str:
    """Why network namespaces cannot be used here ("" when they can)."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs ip (iproute2)"
    return ""


def ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_namespace(name: str) -> None:
    for pid in ip("netns", "pids", name, check=False).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    ip("netns", "delete", name, check=False)


def sweep() -> None:
    """Remove the namespaces and bridges of `Network`s whose process is gone."""
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.split() else ""
        owned = _OWNED.match(name)
        if owned and not _alive(int(owned.group(1))):
            _remove_namespace(name)
    for line in ip("-o", "link", "show", "type", "bridge", check=False).splitlines():
        found = re.search(rf"^\d+: (\S+?)[:@].*alias {PREFIX}(\d+)", line)
        if found and not _alive(int(found.group(2))):
            ip("link", "delete", found.group(1), check=False)


def _free_subnet() -> ipaddress.IPv4Network:
    used = [ipaddress.ip_network(word, strict=False) for line in ip("-4", "route", "show", "table", "all",
                                                                     check=False).splitlines()
            for word in line.split()[:2] if re.fullmatch(r"\d+\.\d+\.\d+\.\d+(/\d+)?", word)]
    for _ in range(200):
        subnet = ipaddress.ip_network(f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24")
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise RuntimeError("no free 10.x.y.0/24 subnet for the test network")


class Network:
    """A bridge and a namespace per name; see the module doc."""

    def __init__(self, names: Sequence[str]) -> None:
        if len(names) > 200:
            raise ValueError("at most 200 namespaces")
        self.names = list(names)
        self.tag = secrets.token_hex(3)
        self.owner = f"{PREFIX}{os.getpid()}"
        self.bridge = f"vwb{self.tag}"
        self.subnet = ipaddress.ip_network("10.0.0.0/24")
        self.addresses: dict[str, str] = {}
        self.host_address = ""
        self._namespaces: list[str] = []
        self._cuts: set[tuple[str, str]] = set()

    def namespace(self, name: str) -> str:
        return f"{self.owner}-{self.tag}-{name}"

    def address(self, name: str) -> str:
        """The IPv4 address of a namespace on the bridge."""
        return self.addresses[name]

    def wrap(self, name: str, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the namespace `name` (same process: `ip netns exec` execs it)."""
        return ["ip", "netns", "exec", self.namespace(name), *argv]

    def create(self) -> Network:
        sweep()
        self.subnet = _free_subnet()
        hosts = list(self.subnet.hosts())
        self.host_address = str(hosts[0])
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("link", "set", self.bridge, "alias", self.owner)
            ip("addr", "add", f"{self.host_address}/{self.subnet.prefixlen}", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for index, name in enumerate(self.names, start=1):
                self._join(name, index, str(hosts[index]))
        except BaseException:
            self.close()
            raise
        return self

    def _join(self, name: str, index: int, address: str) -> None:
        namespace = self.namespace(name)
        outside, inside = f"vwh{self.tag}{index}", f"vwn{self.tag}{index}"
        ip("netns", "add", namespace)
        self._namespaces.append(namespace)
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        ip("link", "set", inside, "netns", namespace)  # first: deleting the namespace deletes the pair
        ip("link", "set", outside, "master", self.bridge, "up")
        ip("-n", namespace, "link", "set", inside, "name", "eth0")
        ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        ip("-n", namespace, "link", "set", "eth0", "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        self.addresses[name] = address

    def cut(self, a: str, b: str) -> None:
        """Partition `a` and `b`: nothing between them gets through, either way, until `heal`."""
        for here, there in ((a, b), (b, a)):
            ip("-n", self.namespace(here), "route", "add", "blackhole", f"{self.address(there)}/32")
        self._cuts.add((a, b))

    def heal(self, a: str, b: str) -> None:
        """Undo `cut(a, b)`."""
        for here, there in ((a, b), (b, a)):
            ip("-n", self.namespace(here), "route", "del", "blackhole", f"{self.address(there)}/32", check=False)
        self._cuts.discard((a, b))

    def close(self) -> None:
        """Remove every namespace (killing what still runs in it) and the bridge; never raises."""
        for namespace in self._namespaces:
            _remove_namespace(namespace)
        self._namespaces.clear()
        ip("link", "delete", self.bridge, check=False)

    def __enter__(self) -> Network:
        return self.create()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
