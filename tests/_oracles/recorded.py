"""Recorded TensorFlow answers: one subprocess per batch for the requests not yet recorded."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from _oracles import env

HERE = Path(__file__).resolve().parent
#: TensorFlow's recorded answers, committed: a clean clone (CI) asks TensorFlow only for new ones.
#: (Defined here, not in env.py: env.py is part of every answer's key.)
ANSWERS = HERE / "answers"
# Code every oracle runs besides its own module.
_SHARED = ("run.py", "codec.py", "env.py")

_EXTENSIONS = tuple(importlib.machinery.EXTENSION_SUFFIXES)
_digests: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """sha256 of a file; ``fingerprint.pb`` without its uuid (random per save, never an answer)."""
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo in _digests:
        return _digests[memo]
    data = path.read_bytes()
    if path.name == "fingerprint.pb":
        from savedmodel_io.proto import FingerprintDef

        try:
            fp = FingerprintDef.FromString(data)
        except Exception:  # noqa: BLE001 - a damaged file is keyed by its bytes
            pass
        else:
            fp.ClearField("uuid")
            data = b"fingerprint-without-uuid:" + fp.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data).hexdigest()
    _digests[memo] = digest
    return digest


def content_digest(path: str | os.PathLike[str]) -> str:
    """Digest of a file's or directory's content (names, bytes and symlink targets, not place;
    ``__pycache__`` and compiled extension modules left out: they are built from the sources
    that are keyed, and differ from machine to machine)."""
    p = Path(path)
    if p.is_symlink() and not p.exists():
        return f"dangling link to {os.readlink(p)}"
    if p.is_file():
        return _file_digest(p)
    if not p.is_dir():
        return "absent"
    h = hashlib.sha256()
    for root, dirs, files in os.walk(p):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        files = [f for f in files if not f.endswith(_EXTENSIONS)]
        for name in sorted(files + [d for d in dirs if Path(root, d).is_symlink()]):
            item = Path(root, name)
            rel = item.relative_to(p).as_posix()
            what = f"link:{os.readlink(item)}" if item.is_symlink() else _file_digest(item)
            h.update(f"{rel}\0{what}\n".encode())
    return h.hexdigest()


class Oracle:
    """TensorFlow's answers to the requests of ``tests/_oracles/<name>.py``, recorded one by one.

    A request is a JSON-able dict. ``paths`` names its keys whose values are files or
    directories (a path or a list of paths): they enter the key by content, not by name, and
    wherever such a path appears in the request or its answer it stands as a placeholder, given
    back as the path of the request being answered (tests use fresh temporary directories).
    """

    def __init__(self, name: str, paths: Sequence[str] = ("dir",),
                 code: Sequence[Path] = ()) -> None:
        self.name = name
        self.paths = tuple(paths)
        self.code = [HERE / f"{name}.py", *(HERE / s for s in _SHARED), *map(Path, code)]
        self._code: bytes | None = None

    def code_digest(self) -> bytes:
        """Digest of what produces the answers: the oracle's code and TensorFlow's version."""
        if self._code is None:
            h = hashlib.sha256(env.tf_version().encode())
            for path in self.code:
                h.update(path.name.encode() + b"\0" + path.read_bytes())
            self._code = h.digest()
        return self._code

    def _path_values(self, request: dict) -> list[tuple[str, str]]:
        """(placeholder, path) of every path the request names."""
        out = []
        for key in self.paths:
            value = request.get(key)
            if isinstance(value, (list, tuple)):
                out += [(f"@@{key}.{i}@@", os.fspath(v)) for i, v in enumerate(value)]
            elif value is not None:
                out.append((f"@@{key}@@", os.fspath(value)))
        return sorted(out, key=lambda pv: -len(pv[1]))  # longer paths first: no prefix clashes

    def key(self, request: dict) -> str:
        """The request's key: oracle code + request, with its paths (wherever they appear in
        it, e.g. inside an argv) replaced by placeholders and keyed by content."""
        text = json.dumps(request, sort_keys=True, default=os.fspath)
        h = hashlib.sha256(self.code_digest())
        for placeholder, path in self._path_values(request):
            text = text.replace(json.dumps(path)[1:-1], placeholder)
            h.update(f"{placeholder}={content_digest(path)}\n".encode())
        h.update(text.encode())
        return h.hexdigest()[:32]

    def _recorded(self, key: str) -> Path | None:
        """Where the answer under ``key`` is recorded (None: nowhere). An answer found only in
        the local cache, where answers were recorded before they were committed, is copied
        into the committed answers, so that a run there gathers every answer the suite uses."""
        path = ANSWERS / self.name / f"{key}.json"
        if path.is_file():
            return path
        cached = env.CACHE / "oracle" / self.name / f"{key}.json"
        if not cached.is_file():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{key}.{os.getpid()}.tmp")
        shutil.copyfile(cached, tmp)
        tmp.replace(path)
        return path

    def answers(self, requests: Sequence[dict]) -> list[Any]:
        """TensorFlow's answer to each request: recorded ones read back, the rest in one run."""
        keys = [self.key(r) for r in requests]
        found = [self._recorded(k) for k in keys]
        missing = [i for i, path in enumerate(found) if path is None]
        if missing:
            self._record([requests[i] for i in missing], [keys[i] for i in missing])
            for i in missing:
                found[i] = ANSWERS / self.name / f"{keys[i]}.json"
        return [self._read(path, r) for path, r in zip(found, requests)]

    def _record(self, requests: list[dict], keys: list[str]) -> None:
        """Run TensorFlow once for ``requests`` and store each answer under its key, in the
        committed answers (a new file there is to be committed with the test that asked)."""
        reason = env.no_tf_reason(f"{len(requests)} answer(s) of oracle {self.name!r}")
        if reason is not None:
            (pytest.skip if not env.has_tensorflow() else pytest.fail)(reason)
        folder = ANSWERS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        env.CACHE.mkdir(parents=True, exist_ok=True)
        out = env.CACHE / f"{self.name}-batch.{os.getpid()}.json"
        proc = subprocess.run(
            [sys.executable, str(HERE / "run.py"), self.name, str(out)],
            input=json.dumps(requests, default=os.fspath), capture_output=True, text=True,
            check=False, env={**os.environ, **env.TF_ENV},
        )
        if proc.returncode != 0:
            raise RuntimeError(f"oracle {self.name} failed:\n{proc.stderr[-4000:]}")
        answers = json.loads(out.read_text())
        out.unlink()
        for request, key, answer in zip(requests, keys, answers):
            text = json.dumps(answer)
            for placeholder, path in self._path_values(request):
                text = text.replace(json.dumps(path)[1:-1], placeholder)
            tmp = folder / f"{key}.{os.getpid()}.tmp"
            tmp.write_text(text)
            tmp.replace(folder / f"{key}.json")

    def _read(self, path: Path, request: dict) -> Any:
        text = path.read_text()
        for placeholder, path in self._path_values(request):
            text = text.replace(placeholder, json.dumps(path)[1:-1])
        return json.loads(text)


class ModuleOracle(Oracle):
    """An oracle whose TensorFlow side is a function of the test module itself.

    ``ModuleOracle(__name__).answers([{"function": "tf_side", ...}])`` runs
    ``tf_side(request)`` in the oracle's subprocess (``in_module.py`` imports the test module
    there; the function imports TensorFlow). Answers are keyed by the module's whole source
    (and by ``code``, other files the function runs), so editing the module re-runs its
    requests, in one batch.
    """

    def __init__(self, module: str, paths: Sequence[str] = (), code: Sequence[Path] = ()) -> None:
        source = sys.modules[module].__file__
        assert source is not None
        super().__init__("in_module", paths, code=[Path(source), *code])
        # The module's name and the directory it is imported from, relative to tests/.
        where = Path(source).resolve().parent
        for _ in module.split(".")[1:]:
            where = where.parent
        self.module = {"module": module, "from": where.relative_to(HERE.parent).as_posix()}

    def answers(self, requests: Sequence[dict]) -> list[Any]:
        return super().answers([{**r, **self.module} for r in requests])
