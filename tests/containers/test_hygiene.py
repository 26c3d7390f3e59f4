"""Image hygiene, measured on the built images (issue 17, item 5): size, user, nothing to build with.

The figures are printed (`-s`) and written in docs/deploy.md. Size limit: 200 MB per image
(uncompressed, as `podman images` / `docker images` show it), the plugin host with git's client,
gpg and openssh included (no perl: see services/plugin-host/Dockerfile).
"""

from __future__ import annotations

import json

import pytest

from .conftest import cli, image, run_flags

pytestmark = [pytest.mark.e2e, pytest.mark.containers]
IMAGES = ["storage", "engine", "plugin-host", "api-gateway", "plugin-sdk", "plugin-hello"]
LIMIT_MB = 200
# What a runtime stage must not hold: compilers and build tools, package caches, the build tool.
NOTHING_TO_BUILD_WITH = (
    "for p in gcc cc c++ g++ make ld as uv npm node; do command -v $p; done;"
    " ls /root/.cache /root/.npm /var/cache/apt/archives/*.deb 2>/dev/null;"
    " ls /var/lib/apt/lists | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$';"
    " find / -xdev -name '*.whl' -path '*cache*' 2>/dev/null | head -n 3; true"
)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", IMAGES)
def test_image_is_small_non_root_and_holds_nothing_to_build_with(images: dict[str, float], name: str) -> None:
    inspected = json.loads(cli("image", "inspect", image(name)).stdout)[0]
    size_mb = inspected["Size"] / 1e6
    user = inspected["Config"].get("User", "")
    assert user and user.split(":")[0] not in ("0", "root"), f"{name} runs as {user!r}"
    found = cli("run", "--rm", *run_flags(), "--user", "0", "--entrypoint", "/bin/sh", image(name), "-c",
                NOTHING_TO_BUILD_WITH).stdout.split()
    assert found == [], f"{name} holds {found}"
    # Bytecode is compiled at build time: a read-only root filesystem loses nothing.
    missing = cli("run", "--rm", *run_flags(), "--read-only", "--entrypoint", "/bin/sh", image(name), "-c",
                  "find /opt/venv/lib -name '*.py' -path '*vwmp*' ! -path '*__pycache__*' | while read f; do"
                  " d=$(dirname $f); b=$(basename $f .py); ls $d/__pycache__/$b.*.pyc >/dev/null 2>&1 || echo $f;"
                  " done | head -n 3").stdout.split()
    assert missing == [], f"{name}: no bytecode for {missing}"
    print(f"\n{name}: {size_mb:.0f} MB, user {user}")
    assert size_mb <= LIMIT_MB, f"{name} is {size_mb:.0f} MB"
