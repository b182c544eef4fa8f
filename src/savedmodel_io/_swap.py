"""Swap two directory entries in one step, where the operating system can.

Linux (3.15+) has ``renameat2(..., RENAME_EXCHANGE)`` and macOS (10.12+)
``renamex_np(..., RENAME_SWAP)``: both exchange two paths atomically, so a model
directory can be replaced with no moment at which its path is missing. Python has
no binding for either; they are called through ctypes. :func:`exchange` returns
False where the call does not exist or the filesystem refuses it (some network,
FUSE and overlay filesystems), and the caller falls back to two renames.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from collections.abc import Callable

__all__ = ["exchange"]

# errno values meaning "this system or filesystem cannot swap": fall back to two renames.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}

_AT_FDCWD = -100
# linux/fs.h: RENAME_EXCHANGE = (1 << 1); macOS sys/stdio.h: RENAME_SWAP = 0x00000002.
_RENAME_EXCHANGE = 2
_RENAME_SWAP = 2

# renameat2's syscall number, for C libraries without the wrapper (glibc < 2.28, old musl).
# Linux arch/*/ syscall tables (asm-generic unistd.h for arm64, riscv and loongarch).
_SYSCALL_NR = {
    "x86_64": 316, "amd64": 316, "i386": 353, "i686": 353, "aarch64": 276, "arm64": 276,
    "armv7l": 382, "armv6l": 382, "riscv64": 276, "loongarch64": 276, "ppc64le": 357,
    "ppc64": 357, "s390x": 347,
}

# (old path, new path) -> 0 on success, else the errno; None where there is no such call.
Native = Callable[[bytes, bytes], int]


def _linux() -> Native | None:
    """renameat2 through libc, or the raw syscall when libc lacks the wrapper."""
    libc = ctypes.CDLL(None, use_errno=True)
    wrapper = getattr(libc, "renameat2", None)
    if wrapper is not None:
        wrapper.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                            ctypes.c_uint]
        wrapper.restype = ctypes.c_int

        def call(old: bytes, new: bytes) -> int:
            failed = wrapper(_AT_FDCWD, old, _AT_FDCWD, new, _RENAME_EXCHANGE) != 0
            return ctypes.get_errno() if failed else 0

        return call
    nr = _SYSCALL_NR.get(platform.machine())
    if nr is None or (ctypes.sizeof(ctypes.c_void_p) == 4) != (nr in (353, 382)):
        return None  # unknown architecture, or a 32-bit process on a 64-bit kernel
    syscall = libc.syscall
    syscall.restype = ctypes.c_long

    def raw(old: bytes, new: bytes) -> int:
        failed = syscall(ctypes.c_long(nr), ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(old),
                         ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(new),
                         ctypes.c_uint(_RENAME_EXCHANGE)) != 0
        return ctypes.get_errno() if failed else 0

    return raw


def _macos() -> Native | None:
    """renamex_np(RENAME_SWAP) from libSystem."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renamex_np", None)
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def call(old: bytes, new: bytes) -> int:
        return ctypes.get_errno() if fn(old, new, _RENAME_SWAP) != 0 else 0

    return call


def _native() -> Native | None:
    try:
        if sys.platform.startswith("linux"):
            return _linux()
        if sys.platform == "darwin":
            return _macos()
    except OSError:  # no C library to load (unusual embedded builds)
        return None
    return None  # Windows and others: no atomic exchange of directories


_call: Native | None = _native()


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap paths ``a`` and ``b`` (both must exist) atomically; False if the system cannot.

    Any other failure (permissions, a read-only filesystem, a missing path) raises the
    OSError the system gave, naming both paths.
    """
    if _call is None:
        return False
    err = _call(os.fsencode(a), os.fsencode(b))
    if err == 0:
        return True
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), os.fspath(a), None, os.fspath(b))
