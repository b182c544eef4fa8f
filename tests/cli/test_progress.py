"""The stderr progress bar: silent off a terminal, after a delay, and with quiet."""

from __future__ import annotations

import io
import time

from savedmodel_io._display import human_bytes
from savedmodel_io.cli._progress import Progress, busy


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_human_bytes():
    assert human_bytes(0) == "0 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3.0 GiB"


def test_drawn_only_on_a_tty_after_the_delay(monkeypatch):
    monkeypatch.delenv("SAVEDMODEL_IO_NO_PROGRESS", raising=False)
    clock, tty = _Clock(), _Tty()
    with Progress(1000, "export", stream=tty, clock=clock) as bar:
        bar.update(100)
        assert tty.getvalue() == ""  # under a second: nothing
        clock.now = 2.0
        bar.update(400)
        assert "export [############------------]  50.0% 500 B/1000 B" in tty.getvalue()
        assert "eta 2s" in tty.getvalue()
    assert tty.getvalue().endswith("\n") and "100.0%" not in tty.getvalue()
    # Not a terminal: never drawn.
    plain = io.StringIO()
    clock.now = 0
    with Progress(10, "x", stream=plain, clock=clock) as bar:
        clock.now = 5
        bar.update(5)
    assert plain.getvalue() == ""


def test_quiet_and_environment(monkeypatch):
    clock, tty = _Clock(), _Tty()
    bar = Progress(10, "x", stream=tty, clock=clock, quiet=True)
    clock.now = 5
    bar.update(5)
    bar.close()
    assert tty.getvalue() == ""
    monkeypatch.setenv("SAVEDMODEL_IO_NO_PROGRESS", "1")
    assert not Progress(10, "x", stream=_Tty()).enabled


def test_callback_and_unknown_total(monkeypatch):
    monkeypatch.delenv("SAVEDMODEL_IO_NO_PROGRESS", raising=False)
    clock, tty = _Clock(), _Tty()
    bar = Progress(None, "hash", stream=tty, clock=clock)
    clock.now = 2
    bar.callback(2048, 0)
    assert "hash 2.0 KiB 1.0 KiB/s" in tty.getvalue()
    bar.callback(4096, 8192)
    assert bar.total == 8192


def test_busy(monkeypatch):
    monkeypatch.delenv("SAVEDMODEL_IO_NO_PROGRESS", raising=False)
    tty = _Tty()
    with busy("write", stream=tty, delay=0.0):
        time.sleep(0.5)
    assert "write ... 0 s" in tty.getvalue() and tty.getvalue().endswith("\n")
    quiet = _Tty()
    with busy("write", stream=quiet, delay=0.0, quiet=True):
        time.sleep(0.3)
    assert quiet.getvalue() == ""
