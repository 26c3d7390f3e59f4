"""Version files are found and changed byte-for-byte apart from the version."""

from __future__ import annotations

from pathlib import Path

from vwmp_toolkit.version_files import autodetect, locate

PYPROJECT = (
    '# build config\n[build-system]\nrequires = ["hatchling"]\nversion = "9.9.9"\n\n[project]\n'
    "name = 'demo'\nversion   =   '0.4.1'  # keep me\n\n[tool.x]\nversion = \"1.1.1\"\n"
)
PACKAGE = '{\n  "name": "demo",\n  "dependencies": {"version": "3.0.0"},\n  "version": "0.4.1",\n  "private": true\n}\n'


def test_pyproject_changes_only_the_project_version() -> None:
    span = locate("pyproject", PYPROJECT)
    assert span is not None and span.value(PYPROJECT) == "0.4.1"
    assert span.replace(PYPROJECT, "0.5.0") == PYPROJECT.replace("'0.4.1'", "'0.5.0'")


def test_package_json_top_level_version_only() -> None:
    span = locate("package.json", PACKAGE)
    assert span is not None
    assert span.replace(PACKAGE, "0.5.0") == PACKAGE.replace('"version": "0.4.1"', '"version": "0.5.0"')


def test_version_file_and_module_keep_surroundings() -> None:
    text = "0.4.1\r\n"
    span = locate("VERSION", text)
    assert span is not None and span.replace(text, "1.0.0") == "1.0.0\r\n"
    module = '"""Pkg."""\n\n__version__: str = "0.4.1"\nOTHER = "0.4.1"\n'
    span = locate("module", module)
    assert span is not None and span.replace(module, "0.5.0") == module.replace('"0.4.1"\n', '"0.5.0"\n', 1)


def test_dynamic_pyproject_has_no_static_version() -> None:
    assert locate("pyproject", "[project]\nname = 'x'\ndynamic = ['version']\n") is None


def test_autodetect(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "VERSION").write_text("0.4.1\n")
    (tmp_path / "src" / "demo").mkdir(parents=True)
    (tmp_path / "src" / "demo" / "__init__.py").write_text('__version__ = "0.4.1"\n')
    (tmp_path / "src" / "other").mkdir()
    (tmp_path / "src" / "other" / "__init__.py").write_text("x = 1\n")
    assert autodetect(tmp_path) == ["pyproject.toml", "VERSION", "src/demo/__init__.py"]
