"""docs/onnx.md's op mapping table matches the converter registry (tools/gen_onnx_doc.py --check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mapping_table_is_current():
    pytest.importorskip("onnx")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_onnx_doc.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
