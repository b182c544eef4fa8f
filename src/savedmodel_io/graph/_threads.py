"""How many threads BLAS may use while a graph runs, enforced without threadpoolctl.

The runtime runs one op at a time. A big convolution or matmul splits its GEMM into
blocks over ``Session.threads`` threads of its own (graph/ops/_parallel.py), each block a
single-threaded BLAS call: BLAS is never multi-threaded on top of that. Left alone,
numpy's OpenBLAS starts one thread per core whose workers spin at every step until all
of them arrive: on a machine with other work a graph of many mid-sized products then runs
several times (up to 20x) slower and its time swings from call to call, where blocks on
pool threads just finish late (measured in bench/README.md). So the runtime sets the
BLAS thread count for each run (``Session.blas_threads``, default 1) and restores it
afterwards, through threadpoolctl when it is installed (the ``fast`` extra), else through
the C controls of the BLAS libraries already loaded in the process: OpenBLAS
(``openblas_set_num_threads``, also under the symbol-prefixed/suffixed names of numpy's
bundled scipy-openblas), MKL (``MKL_Set_Num_Threads``) and BLIS
(``bli_thread_set_num_threads``), found in ``/proc/self/maps`` (Linux) or the dyld image
list (macOS) and opened with RTLD_NOLOAD, so nothing new is ever loaded. Elsewhere
(Windows without threadpoolctl) BLAS keeps its own setting.

``"auto"`` (for either setting) uses the cores this process may run on that other
processes leave free (measured from /proc/stat between calls; elsewhere the load
average, as libgomp's OMP_DYNAMIC does), at least one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["BlasLibrary", "auto_threads", "blas_libraries", "blas_limit", "thread_count",
           "usable_cores"]

# (family, file-name fragments, setter names, getter names, setter argument type).
# OpenBLAS builds rename their symbols: numpy's wheels bundle scipy-openblas, whose
# symbols carry a "scipy_" prefix and a "64_" suffix (ILP64); threadpoolctl's
# _OpenBLASModule knows the same variants.
_OPENBLAS_NAMES = [(p, s) for p in ("", "scipy_") for s in ("", "64_", "_64")]
_FAMILIES: tuple[tuple[str, tuple[str, ...], list[str], list[str], Any], ...] = (
    ("openblas", ("openblas",),
     [f"{p}openblas_set_num_threads{s}" for p, s in _OPENBLAS_NAMES],
     [f"{p}openblas_get_num_threads{s}" for p, s in _OPENBLAS_NAMES], ctypes.c_int),
    ("mkl", ("mkl_rt", "libmkl_core"), ["MKL_Set_Num_Threads"], ["MKL_Get_Max_Threads"],
     ctypes.c_int),
    # BLIS: dim_t is a 64-bit integer (blis.h, bli_thread_set_num_threads(dim_t n_threads)).
    ("blis", ("libblis",), ["bli_thread_set_num_threads"], ["bli_thread_get_num_threads"],
     ctypes.c_int64),
)


@dataclass(frozen=True)
class BlasLibrary:
    """One loaded BLAS library and its thread-count controls."""

    family: str
    path: str
    get: Callable[[], int]
    set: Callable[[int], None]


def _loaded_paths() -> list[str]:
    """Paths of the shared libraries loaded in this process (empty where we cannot tell)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        paths = {ln.split(None, 5)[5] for ln in lines if ln.count(" ") >= 5 and ".so" in ln}
        return sorted(p for p in paths if p.startswith("/"))
    if sys.platform == "darwin":
        libc = ctypes.CDLL(None)
        count = libc._dyld_image_count()
        libc._dyld_get_image_name.restype = ctypes.c_char_p
        return [libc._dyld_get_image_name(i).decode("utf-8", "replace") for i in range(count)]
    return []


def _open(path: str, family: str, setters: list[str], getters: list[str],
          argtype: Any) -> BlasLibrary | None:
    """The controls of an already-loaded library, or None (never loads a new library)."""
    noload = getattr(os, "RTLD_NOLOAD", None)
    if noload is None:
        return None
    try:
        lib = ctypes.CDLL(path, mode=noload | getattr(os, "RTLD_LOCAL", 0))
    except OSError:
        return None
    setter = next((getattr(lib, n) for n in setters if hasattr(lib, n)), None)
    getter = next((getattr(lib, n) for n in getters if hasattr(lib, n)), None)
    if setter is None or getter is None:
        return None
    setter.argtypes = [argtype]
    setter.restype = None
    getter.argtypes = []
    getter.restype = argtype
    return BlasLibrary(family, path, lambda: int(getter()), lambda n: setter(n))


_libraries: list[BlasLibrary] | None = None
_modules_seen = -1


def blas_libraries() -> list[BlasLibrary]:
    """The BLAS libraries loaded in this process that we can control.

    Looked up again only after new Python modules were imported (the way a new
    BLAS arrives), since reading the process's library list takes about a millisecond.
    """
    global _libraries, _modules_seen
    if _libraries is None or len(sys.modules) != _modules_seen:
        _modules_seen = len(sys.modules)
        found = []
        for path in _loaded_paths():
            name = os.path.basename(path).lower()
            for family, fragments, setters, getters, argtype in _FAMILIES:
                if any(fr in name for fr in fragments):
                    lib = _open(path, family, setters, getters, argtype)
                    if lib is not None:
                        found.append(lib)
                    break
        _libraries = found
    return _libraries


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


class _Load:
    """How many cores other processes keep busy, measured between calls (at most once a second).

    Linux: from /proc/stat (busy time of all CPUs) minus this process's own CPU time over
    the same interval, so our own BLAS threads never count as "others". Elsewhere: the
    1-minute load average minus one (our own thread), libgomp's OMP_DYNAMIC rule.
    """

    def __init__(self) -> None:
        self.when = 0.0
        self.threads = 0  # the last decision (0: none yet)
        self.sample: tuple[float, int, int, float] | None = None

    def others(self, now: float) -> float:
        stat = _cpu_jiffies()
        own = time.process_time()
        prev, self.sample = self.sample, (now, *stat, own) if stat else None
        if stat and prev is not None and stat[0] > prev[1] and now > prev[0]:
            total, idle = stat[0] - prev[1], stat[1] - prev[2]
            busy = (total - idle) / total * (os.cpu_count() or 1)
            return max(busy - (own - prev[3]) / (now - prev[0]), 0.0)
        try:
            return max(os.getloadavg()[0] - 1.0, 0.0)
        except (OSError, AttributeError):
            return 0.0


def _cpu_jiffies() -> tuple[int, int] | None:
    """(total, idle) CPU time of the whole machine in clock ticks, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks), ticks[3] + (ticks[4] if len(ticks) > 4 else 0)


_load = _Load()


def auto_threads() -> int:
    """BLAS threads for ``"auto"``: the usable cores other processes leave free, at least one.

    BLAS on more threads than free cores is the failure the module docstring describes
    (its threads wait for each other at every step); re-decided at most once a second.
    """
    now = time.monotonic()
    if _load.threads and now - _load.when < 1.0:
        return _load.threads
    cores = usable_cores()
    _load.threads = max(1, min(cores, int(cores - _load.others(now) + 0.5)))
    _load.when = now
    return _load.threads


def thread_count(threads: int | str | None) -> int:
    """A thread setting (a count, "auto" or None) as a count of at least one."""
    if threads is None:
        return 1
    return auto_threads() if threads == "auto" else max(int(threads), 1)


_controller: Any = None
_no_threadpoolctl = False


def _threadpoolctl() -> Any:
    """threadpoolctl's controller when it is installed, else None."""
    global _controller, _no_threadpoolctl
    if _controller is None and not _no_threadpoolctl:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _no_threadpoolctl = True
            return None
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def _ctypes_limit(threads: int) -> Iterator[None]:
    libs = blas_libraries()
    before = [lib.get() for lib in libs]
    for lib in libs:
        lib.set(threads)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            lib.set(n)


def blas_limit(threads: int | str | None) -> contextlib.AbstractContextManager[Any]:
    """Context limiting BLAS to ``threads`` threads (an int, "auto", or None: no change)."""
    if threads is None:
        return contextlib.nullcontext()
    n = auto_threads() if threads == "auto" else int(threads)
    controller = _threadpoolctl()
    if controller is not None:
        limiter: contextlib.AbstractContextManager[Any] = controller.limit(limits=n,
                                                                          user_api="blas")
        return limiter
    return _ctypes_limit(n)
