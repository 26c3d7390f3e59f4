"""StepContext: path resolution against hostile input, and running programs safely."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from vwmp_sdk import DeniedError, StepCancelledError, StepContext, StepError

pytestmark = pytest.mark.timeout(30)


def make_ctx(root: Path, lines: list[tuple[str, str]] | None = None) -> StepContext:
    sink = lines.append if lines is not None else (lambda _: None)
    return StepContext(
        run_id="r", step_id="s", attempt=1, idempotency_key="r/s/1", dry_run=False,
        workspace_root=root, platform_config=None, log_sink=lambda line, stream: sink((stream, line)),
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("hostile", ["", "  ", "../x", "a/../../x", "a/../b", "/etc", "/etc/passwd", "..", "a\x00b"])
def test_resolve_path_refuses_hostile_paths(tmp_path: Path, hostile: str) -> None:
    with pytest.raises(DeniedError):
        make_ctx(tmp_path).resolve_path(hostile)


def test_resolve_path_refuses_symlink_escaping_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    ctx = make_ctx(root)
    with pytest.raises(DeniedError, match="outside"):
        ctx.resolve_path("link")
    with pytest.raises(DeniedError):
        ctx.resolve_path("link/file.txt")


def test_resolve_path_follows_symlinks_at_the_moment_of_use(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "repo").mkdir(parents=True)
    (root / "alias").symlink_to(root / "repo")
    ctx = make_ctx(root)
    assert ctx.resolve_path("alias") == (root / "repo").resolve()
    (root / "alias").unlink()
    (root / "alias").symlink_to(tmp_path)
    with pytest.raises(DeniedError):
        ctx.resolve_path("alias")


def test_resolve_path_accepts_paths_inside(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    assert ctx.resolve_path("repo/sub") == tmp_path.resolve() / "repo" / "sub"
    assert ctx.resolve_path(".") == tmp_path.resolve()


def test_run_streams_lines_and_captures_output(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    code = "import sys; print('one'); print('two'); print('err', file=sys.stderr); sys.exit(3)"
    result = make_ctx(tmp_path, lines).run([sys.executable, "-c", code], cwd=tmp_path, timeout=10)
    assert (result.returncode, result.stdout, result.stderr) == (3, "one\ntwo\n", "err\n")
    assert ("stdout", "one") in lines and ("stdout", "two") in lines and ("stderr", "err") in lines


def test_run_passes_extra_env(tmp_path: Path) -> None:
    code = "import os; print(os.environ['VWMP_TEST_X'], os.environ.get('PATH') is not None)"
    result = make_ctx(tmp_path).run([sys.executable, "-c", code], cwd=tmp_path, timeout=10, env={"VWMP_TEST_X": "y"})
    assert result.stdout == "y True\n"


def test_run_never_uses_a_shell(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    with pytest.raises(TypeError, match="list"):
        ctx.run("echo hi; touch pwned", cwd=tmp_path, timeout=5)  # type: ignore[arg-type]  # a command string on purpose
    result = ctx.run(["echo", "hi; touch pwned", "$(touch pwned2)"], cwd=tmp_path, timeout=5)
    assert result.stdout == "hi; touch pwned $(touch pwned2)\n"
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_run_timeout_kills_child_and_its_children(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid));"
        "print('started', flush=True); time.sleep(60)"
    )
    started = time.monotonic()
    with pytest.raises(StepError, match="timed out"):
        make_ctx(tmp_path, lines).run([sys.executable, "-c", code], cwd=tmp_path, timeout=1.0)
    assert time.monotonic() - started < 5
    assert ("stdout", "started") in lines
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_run_is_killed_when_the_step_is_cancelled(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path)
    threading.Timer(0.3, ctx.cancel).start()
    started = time.monotonic()
    with pytest.raises(StepCancelledError):
        ctx.run([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, timeout=30)
    assert time.monotonic() - started < 3
    assert ctx.cancelled


async def test_arun_captures_output_and_times_out(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    ctx = make_ctx(tmp_path, lines)
    result = await ctx.arun([sys.executable, "-c", "print('a'); print('b')"], cwd=tmp_path, timeout=10)
    assert (result.returncode, result.stdout) == (0, "a\nb\n")
    assert lines == [("stdout", "a"), ("stdout", "b")]
    with pytest.raises(StepError, match="timed out"):
        await ctx.arun([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, timeout=0.5)


async def test_arun_cancellation_kills_the_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    task = asyncio.create_task(make_ctx(tmp_path).arun([sys.executable, "-c", code], cwd=tmp_path, timeout=30))
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pid = int(pidfile.read_text())
    for _ in range(60):
        if not alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not alive(pid)
    assert os.getpid() != pid
