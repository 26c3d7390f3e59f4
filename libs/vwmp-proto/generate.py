"""Regenerate vwmp_proto from proto/ (run by `make proto`).

protoc names modules after the proto path (`vwmp.storage.v1`); we ship them
as `vwmp_proto.storage.v1` so the distribution owns one top-level package.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
PACKAGE_DIR = Path(__file__).resolve().parent / "src" / "vwmp_proto"
IMPORT = re.compile(r"^(from|import) vwmp\.", re.MULTILINE)


def generate(target: Path) -> None:
    """Write the generated package into `target` (replacing its contents)."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={tmp}", f"--pyi_out={tmp}",
                f"--grpc_python_out={tmp}", *protos]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(Path(tmp) / "vwmp", target)
    for path in target.rglob("*.py*"):
        path.write_text(IMPORT.sub(r"\1 vwmp_proto.", path.read_text()))
    for folder in [target, *(p for p in target.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (target / "py.typed").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PACKAGE_DIR)
