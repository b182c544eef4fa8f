#!/usr/bin/env python3
"""Coverage-guided fuzzing of one target with atheris (libFuzzer), when atheris is installed.

    python tests/fuzz/atheris_fuzz.py TARGET [libFuzzer flags...]
    python tests/fuzz/atheris_fuzz.py bundle -runs=100000 -max_len=65536
    python tests/fuzz/atheris_fuzz.py --list

Targets are those of tests/fuzz/targets.py. The seed corpus (written to
tests/.cache/atheris/<target>/ and grown there by libFuzzer) starts from the
generated seeds, the regression corpus, ../shared/testdata/cpb and, when built,
the cached TF fixtures. A crash is any exception other than SavedModelError;
libFuzzer writes the input to ./crash-<sha1>; copy it into
tests/fuzz/corpus/<target>/ with a regression test once fixed.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

try:
    import atheris
except ImportError:  # pragma: no cover - optional tool
    print("atheris is not installed (pip install atheris); nothing to do", file=sys.stderr)
    sys.exit(0)

# Everything the targets use is imported (and so instrumented for coverage) here, up front.
with atheris.instrument_imports(include=["savedmodel_io"]):
    import importlib

    import savedmodel_io  # noqa: F401
    from savedmodel_io.errors import SavedModelError

    import fuzz.targets as targets  # noqa: E402

    for _mod in sorted(set(targets.NEEDS.values())) + [
        "savedmodel_io.formats.bundle", "savedmodel_io.formats.sstable",
        "savedmodel_io.formats.riegeli", "savedmodel_io.formats.chunks",
        "savedmodel_io.cli.main", "savedmodel_io.fingerprint",
    ]:
        try:
            importlib.import_module(_mod)
        except ImportError:
            pass

# Same per-case bound as the hypothesis suite (tests/fuzz/conftest.py): a 100-byte
# TensorProto may legitimately expand to the 4 GiB default, which only slows fuzzing down.
import savedmodel_io.tensors as _tensors  # noqa: E402

_tensors.MAX_EXPANDED_BYTES = 1 << 26

FIXTURES = ROOT / "tests" / ".cache" / "fixtures"
CPB = (ROOT / ".." / "shared" / "testdata" / "cpb").resolve()


def _seed_files(name: str) -> list[bytes]:
    from fuzz import seeds
    from fuzz.harness import corpus_files
    from hostile import bombs

    out = [p.read_bytes() for p in corpus_files(name)]
    models = sorted(FIXTURES.glob("robust_*")) if FIXTURES.is_dir() else []
    if name in ("saved_model_pb", "load_pb", "read_signatures", "cli_show", "scan",
                "fingerprint_model"):
        out.append(seeds.saved_model_pb())
        out += [(m / "saved_model.pb").read_bytes() for m in models if (m / "saved_model.pb").is_file()]
        # Many tiny messages just over the census limits (libFuzzer then mutates them).
        out += [bombs.many_meta_graphs(1001), bombs.many_signatures(2000), bombs.many_nodes(5000)]
    elif name in ("saved_model_pbtxt", "load_pbtxt"):
        out.append(seeds.saved_model_pbtxt())
    elif name == "tensor_proto":
        out += [t.SerializeToString() for t in seeds.tensors()]
    elif name in ("sstable", "bundle"):
        import tempfile

        pairs = seeds.bundles(Path(tempfile.mkdtemp()))
        for m in models:
            v = m / "variables"
            if (v / "variables.index").is_file():
                pairs.append(((v / "variables.index").read_bytes(),
                              (v / "variables.data-00000-of-00001").read_bytes()))
        out += [i for i, _ in pairs] if name == "sstable" else [
            targets.pack_bundle(i, d) for i, d in pairs]
        table = bombs.table_with_block(bombs.snappy_zeros(1 << 20))  # Snappy under the ratio cap
        out.append(table if name == "sstable" else targets.pack_bundle(table, b""))
    elif name in ("riegeli", "cpb"):
        import tempfile

        if name == "riegeli":
            out += seeds.riegeli_files(Path(tempfile.mkdtemp()))
        # Compression bombs declaring 100 bytes (Brotli: 384 MiB, Zstd: 64 MiB of zeros).
        out += [bombs.riegeli_chunk(bombs.brotli_zeros(0), 100),
                bombs.riegeli_chunk(bombs.zstd_zeros(64), 100, b"z")]
        out += [p.read_bytes() for p in CPB.rglob("*.cpb") if p.stat().st_size <= 8192]
    elif name == "fingerprint":
        out += [(m / "fingerprint.pb").read_bytes() for m in models
                if (m / "fingerprint.pb").is_file()]
    elif name in ("cli_input_exprs", "cli_input_examples"):
        out += [s.encode() for s in seeds.cli_input_strings()]
    elif name == "cli_inputs_file":
        import tempfile

        out += seeds.npy_files(Path(tempfile.mkdtemp()))
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1].startswith("-"):
        if "--list" in argv:
            print("\n".join(sorted(targets.TARGETS)))
            return 0
        print(__doc__, file=sys.stderr)
        return 2
    name = argv[1]
    if name not in targets.TARGETS:
        print(f"unknown target {name!r}; --list shows them", file=sys.stderr)
        return 2
    why = targets.available(name)
    if why:
        print(f"target {name} is not available: {why}", file=sys.stderr)
        return 2
    fn = targets.TARGETS[name]
    corpus = ROOT / "tests" / ".cache" / "atheris" / name
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(_seed_files(name)):
        (corpus / f"seed-{i}").write_bytes(data)

    def one_input(data: bytes) -> None:
        try:
            fn(data)
        except SavedModelError:
            pass

    atheris.Setup([argv[0], str(corpus), *argv[2:]], one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
