"""Hostile 1 KB files under a memory cap: a clean library error, never an allocation spree.

Each case of tests/hostile/cases.py runs in its own Python process limited to
MEMORY_CAP bytes of address space (RLIMIT_AS) and CPU_SECONDS of CPU time, with
TensorFlow made unimportable. The case must raise a SavedModelError; a
MemoryError, any other exception, a kill by the CPU limit or a wall-clock
timeout fails the test. Peak memory of each run goes to
tests/.cache/bounded/<case>.json (for the report); cases that declare a peak
(``PEAK_MB``) must also stay under it, which tells a bounded reader from one that
allocates first and fails later.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile.cases import CASES, PEAK_MB, SLOW

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP = 1536 << 20
CPU_SECONDS = 30
WALL_SECONDS = 120

RUNNER = r"""
import json, resource, sys, time, traceback
cap, cpu, name, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
sys.modules["tensorflow"] = None  # TensorFlow must not be needed (nor imported) here
import importlib
from pathlib import Path
from hostile.cases import CASES, NEEDS
from savedmodel_io.errors import SavedModelError
if name in NEEDS:
    try:
        importlib.import_module(NEEDS[name])
    except ImportError as exc:
        print(json.dumps({"skip": str(exc)})); sys.exit(0)
start = time.process_time()
try:
    CASES[name](Path(tmp))
    out = {"error": None}
except SavedModelError as exc:
    out = {"error": type(exc).__name__, "library": True, "message": str(exc)}
except BaseException as exc:
    out = {"error": type(exc).__name__, "library": False, "message": str(exc)[:500],
           "traceback": traceback.format_exc()[-3000:]}
out["cpu_seconds"] = round(time.process_time() - start, 3)
# VmHWM: this process's own peak (ru_maxrss would include the parent's, kept across exec).
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
out["peak_rss_mb"] = round(int(hwm[0].split()[1]) / 1024, 1) if hwm else None
print(json.dumps(out))
"""


def run_case(name: str, tmp: Path) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(MEMORY_CAP), str(CPU_SECONDS), name, str(tmp)],
        capture_output=True, text=True, env=env, timeout=WALL_SECONDS, cwd=tmp,
    )
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(CASES)]
)
def test_hostile_file_gives_library_error_under_memory_cap(name, tmp_path):
    result = run_case(name, tmp_path)
    if "skip" in result:
        pytest.skip(result["skip"])
    out = ROOT / "tests" / ".cache" / "bounded"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result))
    assert result["error"], f"{name}: no error raised"
    assert result["library"], f"{name}: {result['error']} escaped:\n{result['traceback']}"
    assert str(tmp_path) in result["message"], f"{name}: the error does not name the file"
    if name in PEAK_MB:
        assert result["peak_rss_mb"] <= PEAK_MB[name], (
            f"{name}: peak memory {result['peak_rss_mb']} MB, over {PEAK_MB[name]} MB"
        )


def test_the_cap_is_real(tmp_path):
    """The harness itself: allocating past the cap in the child does fail."""
    code = "import numpy as np; np.ones(1 << 31, dtype=np.uint8)"
    proc = subprocess.run(
        [sys.executable, "-c",
         f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
         + code],
        capture_output=True, text=True, timeout=WALL_SECONDS,
    )
    assert proc.returncode != 0 and "MemoryError" in proc.stderr
