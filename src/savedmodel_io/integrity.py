"""One integrity check of a whole SavedModel directory: everything that carries a checksum.

``fingerprint.pb`` (TensorFlow's) hashes the graph, signatures, object graph and the
checkpoint *index*, not the data shards: a flipped byte in ``variables.data-*`` passes it.
:func:`verify` checks every stored hash instead and reports each problem by file:

* ``saved_model``: the model file parses; a ``saved_model.cpb``'s Riegeli block, chunk
  header and chunk data hashes (HighwayHash) all match;
* ``fingerprint``: when ``fingerprint.pb`` is present, it is recomputed and compared;
* ``checkpoint``: the index's block CRC32Cs and entries (shards, offsets, sizes, slices), then
  every tensor's data against its CRC32C; a checkpoint the object graph needs but lacks;
* ``assets``: every asset file the meta graphs name is present, inside the model, readable.

``savedmodel-io verify --dir D`` prints the report and exits 0 (all good), 1 (problems, or
the directory cannot be read) or 2 (bad usage).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from savedmodel_io.errors import SavedModelError
from savedmodel_io.formats import layout
from savedmodel_io.formats.source import LocalFiles

__all__ = ["Finding", "VerifyReport", "verify"]

# Problems listed per check before the rest are only counted (a model of 100,000 damaged
# tensors gives a readable report).
MAX_LISTED = 50


@dataclass(frozen=True)
class Finding:
    """One result: which check, whether it passed, what was found (and in which file)."""

    check: str
    ok: bool
    message: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "message": self.message, "path": self.path}


@dataclass
class VerifyReport:
    """Every finding of :func:`verify`; ``ok`` when none is a problem."""

    path: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok,
                "findings": [f.to_dict() for f in self.findings]}

    def __str__(self) -> str:
        lines = [f"{'ok' if f.ok else 'FAIL':<4}  {f.check}: {f.message}"
                 + (f" ({f.path})" if f.path and not f.ok else "") for f in self.findings]
        verdict = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        return "\n".join([*lines, f"{self.path}: {verdict}"])


class _Check:
    """Collects one check's findings, listing at most MAX_LISTED problems."""

    def __init__(self, report: VerifyReport, name: str) -> None:
        self.report, self.name, self.failed = report, name, 0

    def ok(self, message: str) -> None:
        self.report.findings.append(Finding(self.name, True, message))

    def problem(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.failed += 1
        if self.failed <= MAX_LISTED:
            self.report.findings.append(
                Finding(self.name, False, message, os.fspath(path) if path is not None else None))

    def error(self, exc: SavedModelError) -> None:
        self.problem(f"{type(exc).__name__}: {exc.message}" + (f" ({exc.where})" if exc.where else ""),
                     exc.path)

    def close(self) -> None:
        if self.failed > MAX_LISTED:
            self.report.findings.append(Finding(
                self.name, False, f"... and {self.failed - MAX_LISTED} more problems"))

    def run(self, step: Callable[[], Any]) -> Any:
        """``step()``, a library error becoming a problem (then None)."""
        try:
            return step()
        except SavedModelError as exc:
            self.error(exc)
            return None


def verify(path: str | os.PathLike[str], *, allow_external_links: bool = False) -> VerifyReport:
    """Check every hash and file of the SavedModel directory ``path`` (see the module docstring).

    A file that a symlink leads to outside ``path`` is a problem (not read) unless
    ``allow_external_links``.
    """
    from savedmodel_io.formats import saved_model_file
    from savedmodel_io.remote import require_local

    require_local(path, "verify")
    files = LocalFiles(path, allow_external_links=allow_external_links)
    report = VerifyReport(os.fspath(path))
    model = _saved_model(files, _Check(report, "saved_model"), saved_model_file)
    _fingerprint(files, _Check(report, "fingerprint"), parsed=model is not None)
    _checkpoint(files, _Check(report, "checkpoint"), model)
    if model is not None:
        _assets(model, _Check(report, "assets"))
    return report


def _saved_model(files: LocalFiles, check: _Check, saved_model_file: Any) -> Any:
    """The loaded model (None if it cannot be read), checking a .cpb's hashes first."""
    from savedmodel_io.model import SavedModel

    found = check.run(lambda: saved_model_file.find(files))
    if found is None:
        return None
    name, reader = found[0].name, found[1]
    if name == layout.SAVED_MODEL_CPB:
        from savedmodel_io.formats.riegeli import RecordReader

        def hashes() -> int:
            with RecordReader(files.path(name), file=files.open(name)) as records:
                return records.check_hashes()

        chunks = check.run(hashes)
        if chunks is None:
            return None
        check.ok(f"{name}: Riegeli hashes of {chunks} chunks match")
    proto = check.run(lambda: reader(files, name))
    if proto is None:
        return None
    check.ok(f"{name} parses ({len(proto.meta_graphs)} meta graph(s))")
    return SavedModel(proto, files)


def _fingerprint(files: LocalFiles, check: _Check, *, parsed: bool) -> None:
    from savedmodel_io.fingerprint import FINGERPRINT_FILENAME, verify_fingerprint

    d = Path(files.location)
    if not os.path.lexists(d / FINGERPRINT_FILENAME):
        check.ok(f"no {FINGERPRINT_FILENAME} (TF1's SavedModelBuilder writes none): not compared")
        return
    if not parsed:
        check.problem("not compared: the model file cannot be read", d / FINGERPRINT_FILENAME)
        return
    result = check.run(
        lambda: verify_fingerprint(d, allow_external_links=files.allow_external_links))
    if result is None:
        return
    if result.ok:
        check.ok(f"{FINGERPRINT_FILENAME} matches the recomputed hashes")
    else:
        check.problem(f"{FINGERPRINT_FILENAME} does not match: {', '.join(result.changed)} changed",
                      d / FINGERPRINT_FILENAME)


def _checkpoint(files: LocalFiles, check: _Check, model: Any) -> None:
    from savedmodel_io.formats.bundle import CheckpointReader

    index = files.path(layout.VARIABLES_INDEX)
    needed = _object_graph_variables(model)
    if not os.path.lexists(index):
        variables = Path(files.path(layout.VARIABLES_DIR))
        pattern = layout.data_glob(layout.VARIABLES_FILENAME)
        shards = sorted(variables.glob(pattern)) if variables.is_dir() else []
        if needed or shards:
            why = f"the object graph has {needed} variable(s)" if needed else "data shards exist"
            check.problem(f"{layout.VARIABLES_INDEX} is missing, but {why}", index)
        else:
            check.ok("no variables")
        return
    reader = check.run(lambda: CheckpointReader.from_files(files, layout.VARIABLES_PREFIX))
    if reader is None:
        return
    with reader:
        # Every index entry parsed first: a malformed one is an index problem.
        keys = check.run(lambda: [e.key for e in reader.entries()])
        if keys is None:
            return
        bad = 0
        for key in keys:
            try:
                reader.check(key)
            except SavedModelError as exc:
                bad += 1
                check.error(exc)
    check.close()
    if not bad:
        check.ok(f"index and {len(keys)} tensors ({reader.num_shards} shard(s)): CRC32C match")


def _object_graph_variables(model: Any) -> int:
    if model is None:
        return 0
    return sum(1 for mg in model.meta_graphs if mg.object_graph is not None
               for n in mg.object_graph.nodes if n.kind == "variable")


def _assets(model: Any, check: _Check) -> None:
    seen: set[str] = set()
    for mg in model.meta_graphs:
        for asset in check.run(lambda: mg.assets) or []:
            if asset.filename not in seen:
                seen.add(asset.filename)
                check.run(asset.read_bytes)
    check.close()
    if seen and not check.failed:
        check.ok(f"{len(seen)} asset file(s) present and readable")
    elif not seen and not check.failed:
        check.ok("no assets")
