#!/usr/bin/env python
"""Generate the Python gRPC stubs for every .proto under proto/ into serving/gen/.

Why a script and a flat output folder: protoc would write ``translate/v1/translate_pb2.py``,
and a top-level ``translate`` package in generated code would shadow our own ``translate``
library. So the stubs are generated into a temporary folder, flattened into ``serving/gen/``
and their cross-imports rewritten to ``from serving.gen import ..._pb2``. The stubs are
committed; ``--check`` regenerates into memory and exits 1 when the committed files are stale
(a test runs it), so a .proto edit without regeneration cannot slip through.

Usage: ``python scripts/gen_protos.py [--check]`` (also ``make protos``).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "serving" / "gen"
INIT_TEXT = '"""Generated gRPC stubs (do not edit; run `python scripts/gen_protos.py`)."""\n'
# Proto packages whose stubs load into a private descriptor pool instead of the default one:
# tritonclient registers its own copy of `inference.*` (the KServe v2 protocol) in the default
# pool, and two files defining the same names there make the second import fail.
PRIVATE_POOL_PACKAGES = {"inference"}


def _protoc(protos: list[Path], out: Path) -> None:
    """Run grpc_tools.protoc (bundled with grpcio-tools, so no system protoc is needed)."""
    import grpc_tools
    from grpc_tools import protoc

    include = str(Path(grpc_tools.__file__).parent / "_proto")  # google/protobuf/*.proto
    args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}",
            f"--grpc_python_out={out}"] + [str(p.relative_to(PROTO_DIR)) for p in protos]
    if protoc.main(args) != 0:
        raise SystemExit(f"protoc failed on {', '.join(map(str, protos))}")


def generate() -> dict[str, str]:
    """Return {file name in serving/gen: content} for every .proto under proto/."""
    protos = sorted(PROTO_DIR.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_DIR}")
    stems = [p.stem for p in protos]
    if len(set(stems)) != len(stems):
        raise SystemExit("two .proto files share a base name; the flat serving/gen/ layout needs unique names")
    # e.g. "translate.v1" -> rewritten; imports of google.protobuf stay as they are.
    packages = {".".join(p.parent.relative_to(PROTO_DIR).parts) for p in protos}
    pattern = re.compile(r"^from (" + "|".join(re.escape(x) for x in packages if x) + r") import (\w+_pb2)",
                         re.MULTILINE)
    files: dict[str, str] = {"__init__.py": INIT_TEXT}
    with tempfile.TemporaryDirectory() as tmp:
        _protoc(protos, Path(tmp))
        for path in sorted(Path(tmp).rglob("*")):
            if path.suffix not in (".py", ".pyi") or path.name == "__init__.py":
                continue
            text = path.read_text()
            if packages - {""}:
                text = pattern.sub(r"from serving.gen import \2", text)
            if ".".join(path.parent.relative_to(tmp).parts) in PRIVATE_POOL_PACKAGES:
                text = text.replace("_descriptor_pool.Default().AddSerializedFile(",
                                    "_descriptor_pool.DescriptorPool().AddSerializedFile(")
            files[path.name] = text
    return files


def main(argv: list[str] | None = None) -> int:
    """Write the stubs, or with --check report whether the committed ones are current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if serving/gen/ is stale; write nothing")
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        stale = [n for n, t in files.items() if not (OUT_DIR / n).is_file() or (OUT_DIR / n).read_text() != t]
        extra = [p.name for p in OUT_DIR.glob("*_pb2*.py*") if p.name not in files]
        if stale or extra:
            print("serving/gen/ is stale: " + ", ".join(stale + extra) + "; run `python scripts/gen_protos.py`",
                  file=sys.stderr)
            return 1
        print("serving/gen/ is up to date")
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text)
    print(f"wrote {len(files)} files to {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
