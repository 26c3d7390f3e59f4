"""The `VWMP_*` names the manifests set are names the code reads (and the reverse for the essentials).

Code side, read with `ast` (no import, so a service that does not start yet still counts): every
pydantic-settings class in a `settings.py` of libs/, services/ and plugins/ (field `foo_bar` with
env_prefix `VWMP_` is `VWMP_FOO_BAR`; an explicit `alias`/`validation_alias` string wins), plus
literal `os.environ.get("VWMP_...")` / `os.environ["VWMP_..."]` / `os.getenv("VWMP_...")` reads in
their src/ trees (the plugins read a few variables that way). A plugin host runs the plugins, so it
reads what they read.
Manifest side: ConfigMap keys, container env names, compose environments and Dockerfile ENV lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import DEPLOY, REPO, containers, objects, runtime_steps, service_folders

SETTINGS_BASES = {"BaseSettings"}
VWMP_NAME = re.compile(r"\bVWMP_[A-Z0-9_]+")
ENV_READERS = {"os.environ.get", "environ.get", "os.getenv", "getenv"}
# Set by the manifests ahead of the code that reads it, each with the issue that adds the reader.
# Remove an entry once the name shows up in a settings class: the list must only shrink.
AWAITING_CODE: dict[str, str] = {}


def _literal_prefix(class_node: ast.ClassDef) -> str | None:
    for statement in class_node.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if any(isinstance(t, ast.Name) and t.id == "model_config" for t in targets) and isinstance(
                statement.value, ast.Call
            ):
                for keyword in statement.value.keywords:
                    if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                        return str(keyword.value.value)
    return None


def _field_alias(value: ast.expr | None) -> str | None:
    if isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) == "Field":
        for keyword in value.keywords:
            if keyword.arg in {"alias", "validation_alias"} and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return None


def settings_classes() -> dict[str, tuple[Path, list[str], set[str]]]:
    """Settings classes by name: (file, bases, env names), with inherited names and prefixes resolved."""
    found: dict[str, tuple[Path, list[str], str | None, dict[str, str | None]]] = {}
    for path in sorted([*REPO.glob("libs/*/src/**/settings.py"), *REPO.glob("services/*/src/**/settings.py"),
                        *REPO.glob("plugins/*/src/**/settings.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
            fields = {
                s.target.id: _field_alias(s.value)
                for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                and s.target.id != "model_config" and not s.target.id.startswith("_")
                and "ClassVar" not in ast.unparse(s.annotation)
            }
            found[node.name] = (path, bases, _literal_prefix(node), fields)

    def is_settings(name: str) -> bool:
        return name in SETTINGS_BASES or (name in found and any(is_settings(b) for b in found[name][1]))

    def resolve(name: str) -> tuple[str, dict[str, str | None]]:
        _, bases, prefix, fields = found[name]
        inherited_prefix, inherited = "", {}
        for base in bases:
            if base in found:
                inherited_prefix, base_fields = resolve(base)
                inherited = {**base_fields, **inherited}
        return (prefix if prefix is not None else inherited_prefix), {**inherited, **fields}

    classes = {}
    for name, (path, bases, _, _) in found.items():
        if any(is_settings(b) for b in bases):
            prefix, fields = resolve(name)
            names = {(alias or f"{prefix}{field}").upper() for field, alias in fields.items()}
            classes[name] = (path, bases, names)
    return classes


def direct_reads(folder: Path) -> set[str]:
    """VWMP names read with os.environ / os.getenv literals in the source files under `folder`."""
    names = set()
    for path in folder.glob("**/src/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            key = None
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ENV_READERS and node.args:
                key = node.args[0]
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"}:
                key = node.slice
            if isinstance(key, ast.Constant) and str(key.value).startswith("VWMP_"):
                names.add(str(key.value))
    return names


def names_read_by(folder: Path | None) -> set[str]:
    """Env names one service folder reads, with vwmp-common's (None: read by any code)."""
    classes = settings_classes()
    if folder is None:
        roots = [REPO / "libs", REPO / "services", REPO / "plugins"]
        return set().union(*(names for _, _, names in classes.values()), *map(direct_reads, roots))
    roots = [folder, REPO / "libs" / "vwmp-common"]
    if folder.name == "plugin-host":
        roots += [REPO / "plugins", REPO / "libs" / "vwmp-sdk"]
    own = [names for path, _, names in classes.values() if any(path.is_relative_to(r) for r in roots)]
    return set().union(*own, *map(direct_reads, roots), AWAITING_CODE)


def env_names(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """VWMP names each Deployment sets in its containers, by Deployment name."""
    return {
        name: {v["name"] for c in containers(d) for v in c.get("env", []) if v["name"].startswith("VWMP_")}
        for name, d in objects(docs, "Deployment").items()
    }


def test_the_code_side_is_found() -> None:
    every = names_read_by(None)
    assert "VWMP_VALIDATORS_DIR" in every  # an os.environ read in plugins/project
    assert {"VWMP_DATA_DIR", "VWMP_NATS_URL", "VWMP_STORAGE_PORT", "VWMP_HTTP_PORT", "VWMP_DATABASE_URL"} <= every
    assert {"VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS", "VWMP_PLUGINS"} <= every


# The plugin example Deployment runs the plugin-host program.
PROGRAM = {"plugin-hello": "plugin-host"}


@pytest.mark.parametrize("overlay", ["base", "dev", "prod", "plugin-example"])
def test_every_variable_a_deployment_sets_is_read_by_its_service(rendered: dict, overlay: str) -> None:
    problems = []
    for deployment, names in env_names(rendered[overlay]).items():
        folder = REPO / "services" / PROGRAM.get(deployment, deployment)
        unread = names - names_read_by(folder)
        problems += [f"Deployment {deployment} sets {n}, which {folder.name} does not read" for n in sorted(unread)]
    for config in objects(rendered[overlay], "ConfigMap").values():
        unread = set(config["data"]) - names_read_by(None) - set(AWAITING_CODE)
        problems += [f"ConfigMap {config['metadata']['name']} sets {n}, which no code reads" for n in sorted(unread)]
    assert not problems, "\n".join(problems)


def test_every_variable_compose_sets_is_read_by_its_service(compose: dict) -> None:
    problems = []
    for service, spec in compose["services"].items():
        folder = REPO / "services" / service
        if not folder.is_dir():
            continue  # postgres, nats
        unread = {n for n in spec.get("environment", {}) if n.startswith("VWMP_")} - names_read_by(folder)
        problems += [f"compose service {service} sets {n}, which it does not read" for n in sorted(unread)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", service_folders(), ids=lambda p: p.name)
def test_every_variable_an_image_sets_is_read_by_its_service(folder: Path) -> None:
    env = " ".join(args for keyword, args in runtime_steps(folder / "Dockerfile") if keyword == "ENV")
    names = set(VWMP_NAME.findall(env))
    assert names, f"{folder.name}: the image sets no VWMP_ defaults"
    assert not names - names_read_by(folder), f"{folder.name} image sets {sorted(names - names_read_by(folder))}"


def test_the_plugin_author_image_sets_only_plugin_host_variables() -> None:
    names = set(VWMP_NAME.findall((DEPLOY / "examples" / "plugin-image" / "Dockerfile").read_text()))
    assert names and not names - names_read_by(REPO / "services" / "plugin-host")


@pytest.mark.parametrize("overlay", ["base", "prod"])
def test_the_essentials_of_each_service_are_set(rendered: dict, overlay: str) -> None:
    docs = rendered[overlay]
    (config,) = objects(docs, "ConfigMap").values()
    shared = set(config["data"])
    own = env_names(docs)
    assert {"VWMP_GRPC_HOST", "VWMP_NATS_URL", "VWMP_STORAGE_ADDRESS", "VWMP_ENGINE_ADDRESS"} <= shared
    assert "VWMP_DATABASE_URL" in own["storage"]
    assert {"VWMP_HTTP_HOST", "VWMP_FRONTEND_DIR"} <= own["api-gateway"] | shared
    assert {"VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS", "VWMP_WORKSPACE_ROOT"} <= own["plugin-host"] | shared

