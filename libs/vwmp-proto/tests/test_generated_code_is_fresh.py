"""The committed vwmp_proto package must be exactly what `make proto` generates from proto/."""

import filecmp
import importlib.util
from pathlib import Path

GENERATOR = Path(__file__).resolve().parents[1] / "generate.py"
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vwmp_proto"


def _generator():
    spec = importlib.util.spec_from_file_location("vwmp_proto_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _differences(left: Path, right: Path) -> list[str]:
    comparison = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [f"only in committed: {n}" for n in comparison.left_only]
    found += [f"only in regenerated: {n}" for n in comparison.right_only]
    found += [f"differs: {n}" for n in comparison.diff_files]
    for name, sub in comparison.subdirs.items():
        found += [f"{name}/{item}" for item in _differences(left / name, right / name)] if sub else []
    return found


def test_committed_stubs_match_the_protos(tmp_path: Path) -> None:
    fresh = tmp_path / "vwmp_proto"
    _generator().generate(fresh)
    assert _differences(PACKAGE, fresh) == [], "vwmp_proto is stale: run `make proto` and commit the result"


def test_every_service_in_the_protos_documents_every_rpc() -> None:
    protos = Path(__file__).resolve().parents[3] / "proto"
    for proto in protos.rglob("*.proto"):
        lines = proto.read_text().splitlines()
        for index, line in enumerate(lines):
            if line.strip().startswith("rpc "):
                assert lines[index - 1].strip().startswith("//"), f"{proto.name}: undocumented {line.strip()}"
