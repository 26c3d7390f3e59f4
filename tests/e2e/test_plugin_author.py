"""A plugin author's first hour, with nothing but the built wheels and the SDK README.

`make dist` builds the wheels; a fresh virtual environment gets `vwmp-plugin-host` from them and the
README's plugin (`acme/tag`, its files exactly as the README gives them); the host joins a running
`vwmp up` with the line the banner prints. Its step type reaches the palette and `vwmp plugins`, a
workflow using it runs and tags a real repository, and when the host stops the type leaves the
palette within the heartbeat window. No central configuration is edited.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import platform_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SDK_README = ROOT / "libs" / "vwmp-sdk" / "README.md"
WHEELS = ("vwmp-proto", "vwmp-common", "vwmp-sdk", "vwmp-plugin-host")
JOIN = re.compile(r"your own plugin host joins with: (?P<line>.+?) vwmp-plugin-host")


def _uv() -> str:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    assert Path(found).exists(), "uv is missing: make bootstrap installs it"
    return found


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SDK_README.read_text(), re.S)


def _author_environment(tmp_path: Path) -> Path:
    """Wheels of the four packages a plugin author installs, and a venv holding them and the README plugin."""
    dist = tmp_path / "dist"
    for package in WHEELS:
        subprocess.run([_uv(), "build", "--quiet", "--wheel", "--package", package, "--out-dir", str(dist)],
                       cwd=ROOT, check=True, timeout=120)
    plugin = tmp_path / "my-plugin"
    (plugin / "my_package").mkdir(parents=True)
    (plugin / "my_package" / "__init__.py").write_text(_blocks("python")[0])
    (plugin / "pyproject.toml").write_text(_blocks("toml")[0])
    venv = tmp_path / "venv"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=60)
    # the README's `pip install vwmp-plugin-host ./my-plugin`, with the wheels found in dist/
    subprocess.run([_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                    "--find-links", str(dist), "vwmp-plugin-host", str(plugin)], check=True, timeout=300)
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import vwmp_sdk, sys; print(vwmp_sdk.__file__)"],
                               capture_output=True, text=True, check=True).stdout
    assert str(venv) in installed and str(ROOT) not in installed, installed  # not the checkout's sources
    return venv


class Banner:
    """The lines `vwmp up` prints, read as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True).start()

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := pattern.search(line):
                    return found
            time.sleep(0.1)
        raise AssertionError("vwmp up printed no such line:\n" + "".join(self.lines))


def _step_types(url: str, token: str) -> set[str]:
    listed = httpx.get(f"{url}/api/v1/step-types", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listed.status_code == 200, listed.text
    return {item["type"] for item in listed.json()["items"]}


def _eventually(check, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.timeout(600)
def test_a_plugin_author_joins_a_running_platform_with_the_built_wheels_only(tmp_path: Path) -> None:
    venv = _author_environment(tmp_path)
    env = platform_env(tmp_path / "platform", VWMP_PLUGINS="git")
    platform = subprocess.Popen([str(Path(sys.executable).parent / "vwmp"), "up"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    host: subprocess.Popen[bytes] | None = None
    try:
        banner = Banner(platform)
        join = dict(pair.split("=", 1) for pair in shlex.split(banner.wait_for(JOIN)["line"]))
        url = f"http://127.0.0.1:{env['VWMP_HTTP_PORT']}"
        assert _eventually(lambda: (Path(env["VWMP_DATA_DIR"]) / "admin-token").exists())
        token = (Path(env["VWMP_DATA_DIR"]) / "admin-token").read_text().strip()
        workspace = Path(join["VWMP_WORKSPACE_ROOT"])
        repo = workspace / "shop"
        git = ["git", "-C", str(repo), "-c", "user.name=Ada", "-c", "user.email=ada@example.com"]
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "first"], check=True)

        # Only the author's environment: the banner's line, and nothing of this checkout on the path.
        author_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), **join}
        host = subprocess.Popen([str(venv / "bin" / "vwmp-plugin-host")], env=author_env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert _eventually(lambda: "acme/tag" in _step_types(url, token)), "acme/tag never reached the palette"
        cli_env = {**os.environ, "VWMP_URL": url, "VWMP_TOKEN": token, "COLUMNS": "250"}
        listed = subprocess.run([str(Path(sys.executable).parent / "vwmp"), "plugins"], env=cli_env,
                                capture_output=True, text=True, timeout=30)
        assert listed.returncode == 0 and "acme/tag" in listed.stdout, listed.stdout + listed.stderr

        headers = {"Authorization": f"Bearer {token}"}
        workflow = {"apiVersion": "vwmp/v1", "kind": "Workflow", "metadata": {"name": "acme-tag"},
                    "spec": {"steps": [{"id": "tag", "uses": "acme/tag", "with": {"repo": "shop", "name": "v1.0.0"}}]}}
        assert httpx.post(f"{url}/api/v1/workflows", json=workflow, headers=headers).status_code == 201
        run = httpx.post(f"{url}/api/v1/workflows/acme-tag/runs", json={}, headers=headers).json()
        assert _eventually(lambda: httpx.get(f"{url}/api/v1/runs/{run['id']}", headers=headers).json()["state"]
                           in ("succeeded", "failed"))
        finished = httpx.get(f"{url}/api/v1/runs/{run['id']}", headers=headers).json()
        assert finished["state"] == "succeeded", finished["steps"]
        tagged = subprocess.run([*git, "rev-parse", "v1.0.0^{commit}"], capture_output=True, text=True)
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert tagged.stdout.strip() == head == finished["steps"][0]["outputs"]["sha"]

        host.send_signal(signal.SIGTERM)
        host.wait(15)
        assert _eventually(lambda: "acme/tag" not in _step_types(url, token), timeout=20), "acme/tag stayed"
    finally:
        if host is not None and host.poll() is None:
            host.kill()
        platform.send_signal(signal.SIGINT)
        platform.communicate(timeout=60)
