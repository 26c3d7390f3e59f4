"""The README's first plugin and its tests work as written: copied into a package of their own (the
files the README names) and run with pytest in a separate process, as a plugin author would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def test_the_readme_plugin_and_its_tests_pass_as_written(tmp_path: Path) -> None:
    plugin, tests = _blocks("python")[:2]
    (tmp_path / "my_package").mkdir()
    (tmp_path / "my_package" / "__init__.py").write_text(plugin)
    (tmp_path / "pyproject.toml").write_text(_blocks("toml")[0])
    (tmp_path / "test_my_package.py").write_text(tests)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_package.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-2000:]
    assert "acme/tag" in plugin and "acme = \"my_package:plugin\"" in _blocks("toml")[0]
