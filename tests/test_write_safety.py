"""What a write may replace, and write failures as library errors.

* ``overwrite=True`` replaces only a SavedModel (or an empty directory): a directory of
  other files, a regular file, a device or a link to something else is refused, naming
  what is there (save, replace_weights, import-weights, run --outdir, export).
* A full disk, a read-only filesystem or a failing write() in save, export,
  import-weights, run --outdir, variables --npz and fingerprint --write is one
  WriteError naming the file and keeping errno; the command line prints one line and
  exits 1.
* Concurrent saves of one path: one wins, the others get ModelExistsError (or, with
  overwrite=True, all succeed in turn), never a raw "Directory not empty".
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from faults import FaultInjector, snapshot, swap  # noqa: F401 (fixture)
from savedmodel_io import _fsutil, load, writer
from savedmodel_io.cli.main import main
from savedmodel_io.errors import ModelExistsError, SavedModelError, WriteError
from savedmodel_io.replace import replace_weights

SRC = Path(__file__).resolve().parents[1] / "src"


def _model(scale: float = 2.0) -> writer.Model:
    model = writer.Model()
    v = model.variable("v", np.full(3, scale, np.float32))
    f = model.function("f", {"x": ("float32", (3,))})
    f.outputs({"y": f.inputs["x"] * f.read(v)})
    return model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return writer.save(tmp_path_factory.mktemp("src") / "m", _model(1.0))


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- what is replaced


def _not_models(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (path, what the refusal must say) for things a save must not replace."""
    junk = tmp_path / "junk"
    junk.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (junk / name).write_text("keep")
    (junk / "sub").mkdir()
    half = tmp_path / "half"  # a model's variables, but no saved_model.pb
    (half / "variables").mkdir(parents=True)
    (tmp_path / "file").write_text("keep")
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "to_junk").symlink_to(junk)
    os.mkfifo(tmp_path / "fifo")
    return {
        "junk": (junk, r"is not a SavedModel \(no saved_model.cpb, saved_model.pb, "
                       r"saved_model.pbtxt\): it holds 4 entries \(a.txt, b.txt, c.txt, sub/\)"),
        "half": (half, r"it holds 1 entry \(variables/\)"),
        "file": (tmp_path / "file", "is a regular file, not a SavedModel directory"),
        "dangling": (tmp_path / "dangling", "is a symbolic link to 'nowhere', not to a SavedModel"),
        "to_junk": (tmp_path / "to_junk", "the directory it links to holds 4 entries"),
        "fifo": (tmp_path / "fifo", r"is a FIFO \(named pipe\), not a SavedModel directory"),
    }


def _tree(p: Path):
    if p.is_symlink():
        return ("link", os.readlink(p))
    if p.is_dir():
        return snapshot(p)
    return p.stat().st_mode & 0o170000, p.read_bytes() if p.is_file() else None


@pytest.mark.parametrize("name", ["junk", "half", "file", "dangling", "to_junk", "fifo"])
def test_overwrite_refuses_what_is_not_a_model(tmp_path, model_dir, name, capsys):
    path, says = _not_models(tmp_path)[name]
    before = {p.name: _tree(p) for p in tmp_path.iterdir()}
    with pytest.raises(ModelExistsError, match=says + ".*; refusing to replace it"):
        writer.save(path, _model(), overwrite=True)
    with pytest.raises(ModelExistsError, match="refusing to replace it"):
        replace_weights(model_dir, path, {"v": np.zeros(3, np.float32)}, overwrite=True)
    weights = tmp_path.parent / f"{name}-w.npz"
    np.savez(weights, v=np.zeros(3, np.float32))
    code, out, err = cli(capsys, "import-weights", "--dir", model_dir, "--from", weights,
                         "--out", path, "--overwrite", "--quiet")
    assert code == 1 and "refusing to replace it" in err and len(err.splitlines()) == 1
    assert {p.name: _tree(p) for p in tmp_path.iterdir()} == before


def test_overwrite_replaces_models_empty_directories_and_links_to_models(tmp_path, model_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    writer.save(empty, _model(3.0), overwrite=True)
    assert float(load(empty).variables["v"][0]) == 3.0
    link = tmp_path / "link"
    link.symlink_to(model_dir)
    writer.save(link, _model(4.0), overwrite=True)  # the link is replaced, not followed
    assert not link.is_symlink() and float(load(link).variables["v"][0]) == 4.0
    assert float(load(model_dir).variables["v"][0]) == 1.0
    pbtxt = tmp_path / "pbtxt"
    pbtxt.mkdir()
    (pbtxt / "saved_model.pbtxt").write_text("")
    writer.save(pbtxt, _model(5.0), overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "link", "pbtxt"]


def test_file_writes_replace_only_files(tmp_path, model_dir, capsys):
    """export, variables --npz and run --outdir replace a file or a link, never a directory,
    FIFO or device (as root, renaming over /dev/null would replace the device)."""
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "dir.npz").mkdir()
    for target in ("fifo.npz", "dir.npz"):
        code, _, err = cli(capsys, "variables", "--dir", model_dir, "--npz", tmp_path / target)
        assert code == 1 and "refusing to replace it" in err, err
    code, _, err = cli(capsys, "export", "--dir", model_dir, "--npz", tmp_path / "fifo.npz")
    assert code == 1 and "is a FIFO (named pipe), not a file; refusing to replace it" in err
    (tmp_path / "link.npz").symlink_to(tmp_path / "elsewhere.npz")
    assert cli(capsys, "export", "--dir", model_dir, "--npz", tmp_path / "link.npz")[0] == 0
    assert not (tmp_path / "link.npz").is_symlink() and not (tmp_path / "elsewhere.npz").exists()
    assert (tmp_path / "fifo.npz").exists() and (tmp_path / "dir.npz").is_dir()


def _run(capsys, model_dir, outdir, *extra):
    return cli(capsys, "run", "--dir", model_dir, "--tag_set", "serve", "--signature_def",
               "serving_default", "--input_exprs", "x=np.ones(3)", "--outdir", outdir, *extra)


@pytest.mark.parametrize("outdir, says", [
    ("file", "--outdir is a regular file, not a directory"),
    ("dangling", "--outdir is a symbolic link to 'nowhere', which does not exist"),
    ("/dev/null", "--outdir is a character device, not a directory"),
    ("file/sub", r"--outdir cannot be used \(Not a directory\)"),
    ("/proc/self", r"/proc/self/y.npy: cannot be written \("),
    ("has_dir", r"has_dir/y.npy: is a directory, not a file; refusing to replace it"),
])
def test_run_outdir_that_cannot_hold_outputs(tmp_path, model_dir, capsys, monkeypatch, outdir,
                                             says):
    if outdir.startswith("/") and not os.path.isdir(os.path.dirname(outdir)):
        pytest.skip(f"no {outdir} here")
    monkeypatch.chdir(tmp_path)
    Path("file").write_text("keep")
    Path("dangling").symlink_to("nowhere")
    Path("has_dir/y.npy").mkdir(parents=True)
    code, out, err = _run(capsys, model_dir, outdir, "--overwrite")
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(says, err), err
    assert Path("file").read_text() == "keep" and Path("has_dir/y.npy").is_dir()
    assert not Path("nowhere").exists()


# ----------------------------------------------------------------------------- write failures


def _commands(model_dir: Path, out: Path) -> dict[str, list]:
    """Each command that writes, with its output under ``out``."""
    weights = out.parent / "weights.npz"
    if not weights.exists():
        np.savez(weights, v=np.zeros(3, np.float32))
    copy = out / "copy"
    return {
        "export npz": ["export", "--dir", model_dir, "--npz", out / "w.npz"],
        "variables npz": ["variables", "--dir", model_dir, "--npz", out / "v.npz"],
        "import-weights": ["import-weights", "--dir", model_dir, "--from", weights, "--out",
                           out / "m2", "--quiet"],
        "run outdir": ["run", "--dir", model_dir, "--tag_set", "serve", "--signature_def",
                       "serving_default", "--input_exprs", "x=np.ones(3)", "--outdir", out / "o"],
        "fingerprint write": ["fingerprint", "--dir", copy, "--write"],
        "save": None,
    }


def _fresh(out: Path, model_dir: Path) -> None:
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    shutil.copytree(model_dir, out / "copy")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
@pytest.mark.parametrize("command", ["export npz", "variables npz", "import-weights",
                                     "run outdir", "fingerprint write", "save"])
def test_write_failure_at_every_step_is_one_write_error(tmp_path, model_dir, capsys, code,
                                                        command):
    out = tmp_path / "out"
    _fresh(out, model_dir)
    argv = _commands(model_dir, out)[command]

    def write():
        if argv is None:
            writer.save(out / "saved", _model())
            return 0
        return main([str(a) for a in argv])

    with FaultInjector(out, writes_only=True) as dry:
        assert write() == 0
    capsys.readouterr()
    assert dry.steps
    for k in range(1, len(dry.steps) + 1):
        _fresh(out, model_dir)
        before = snapshot(out)
        injected = OSError(code, os.strerror(code))
        with FaultInjector(out, fail_at=k, exc=injected, writes_only=True):
            try:
                status = write()
            except SavedModelError as exc:  # the API (save)
                assert isinstance(exc, WriteError) and exc.errno == code, (k, exc)
                assert "savedmodel-io-" not in str(exc)  # names the file, not our temp name
                status = 1
        _, err = capsys.readouterr()
        if status:
            if argv is not None:
                assert err.count("\n") == 1 and os.strerror(code) in err, (k, err)
                assert "savedmodel-io-" not in err
            left = [p for p in snapshot(out) if p not in before]
            assert all(not Path(p).name.startswith(".") for p in left), (k, left)


@pytest.mark.parametrize("command", ["export npz", "variables npz", "import-weights",
                                     "run outdir", "save"])
def test_a_failing_write_call_is_a_write_error(tmp_path, model_dir, command):
    """A real write() failing mid-file (a file-size limit: EFBIG), in a subprocess."""
    out = tmp_path / "out"
    _fresh(out, model_dir)
    argv = _commands(model_dir, out)[command]
    if argv is None:  # save through the API: a one-line script
        argv = ["-c", f"import numpy as np\nfrom savedmodel_io import writer\n"
                      f"m = writer.Model(); m.variable('v', np.ones(1 << 16, np.float32))\n"
                      f"writer.save({str(out / 'saved')!r}, m)"]
    else:
        argv = ["-m", "savedmodel_io", *map(str, argv)]
    limit = ("import resource, runpy, signal, sys\n"
             "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
             "resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))\n")
    script = limit + ("sys.argv = sys.argv[1:]\n" + (
        "exec(sys.argv[1])" if argv[0] == "-c" else
        "sys.argv = ['savedmodel-io', *sys.argv[1:]]\nrunpy.run_module('savedmodel_io', "
        "run_name='__main__')"))
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run([sys.executable, "-c", script, *argv[1:]] if argv[0] == "-m" else
                          [sys.executable, "-c", script, "-c", argv[1]],
                          capture_output=True, text=True, env=env, timeout=120)
    err = proc.stderr
    assert proc.returncode == 1, err
    if command == "save":
        last = err.strip().splitlines()[-1]
        assert last.startswith("savedmodel_io.errors.WriteError: ") and "savedmodel-io-" not in last
        assert last.endswith("saved/saved_model.pb: cannot be written (File too large)"), last
    else:
        assert err.count("\n") == 1 and "cannot be written (File too large)" in err, err
    assert not [p for p in out.rglob(".*")], list(out.rglob(".*"))


def test_safetensors_disk_full_is_a_write_error(tmp_path, model_dir, monkeypatch, capsys):
    stn = pytest.importorskip("safetensors.numpy")
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        # What safetensors 0.8 raises on a full disk (seen on a full tmpfs).
        raise SafetensorError("Error while serializing: I/O error: No space left on device "
                              "(os error 28)")

    monkeypatch.setattr(stn, "save_file", full)
    code, _, err = cli(capsys, "export", "--dir", model_dir, "--safetensors", tmp_path / "w.st")
    assert code == 1 and err.count("\n") == 1
    assert f"{tmp_path / 'w.st'}: cannot be written (No space left on device)" in err
    assert list(tmp_path.iterdir()) == []


def test_write_error_keeps_errno_and_is_an_oserror(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    with FaultInjector(root, fail_at=1, exc=OSError(errno.EROFS, os.strerror(errno.EROFS))):
        with pytest.raises(OSError) as info:
            writer.save(root / "m", _model())
    assert isinstance(info.value, WriteError) and info.value.errno == errno.EROFS
    assert str(info.value) == f"{root / 'm'}: cannot be written (Read-only file system)"


# ----------------------------------------------------------------------------- concurrent saves


def _at_once(barrier):
    """A _switch that waits for every racing save to be ready to switch."""
    real = _fsutil._switch

    def switch(*args):
        barrier.wait(timeout=60)
        return real(*args)

    return switch


def _racing(target: Path, overwrite: bool, scale: float) -> str:
    """Save ``target``; the outcome's name."""
    try:
        writer.save(target, _model(scale), overwrite=overwrite)
        return "saved"
    except ModelExistsError:
        return "exists"


def _in_process(target: str, overwrite: bool, barrier, scale: float, results) -> None:
    _fsutil._switch = _at_once(barrier)
    results.put(_racing(Path(target), overwrite, scale))


@pytest.mark.parametrize("overwrite", [False, True])
def test_concurrent_saves_in_processes(tmp_path, swap, overwrite):
    ctx = multiprocessing.get_context("fork")
    target = tmp_path / "m"
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_in_process, args=(str(target), overwrite, barrier, float(i),
                                                   results)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert all(p.exitcode == 0 for p in procs)
    assert outcomes == (["saved"] * n if overwrite else ["exists"] * (n - 1) + ["saved"])
    assert float(load(target).variables["v"][0]) in range(n)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_concurrent_saves_in_threads(tmp_path, swap, monkeypatch, overwrite):
    target = tmp_path / "m"
    n = 4
    monkeypatch.setattr(_fsutil, "_switch", _at_once(threading.Barrier(n)))
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(i):
        result = _racing(target, overwrite, float(i))
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(outcomes) == (["saved"] * n if overwrite else ["exists"] * (n - 1) + ["saved"])
    assert float(load(target).variables["v"][0]) in range(n)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_refusal_happens_before_any_work(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a").write_text("x")
    with FaultInjector(tmp_path) as seen, pytest.raises(ModelExistsError):
        writer.save(tmp_path / "junk", _model(), overwrite=True)
    assert seen.steps == []


def test_fingerprint_write_only_into_a_model(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("keep")
    code, _, err = cli(capsys, "fingerprint", "--dir", tmp_path, "--write")
    assert code == 1 and "no saved_model.pb" in err and len(err.splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
