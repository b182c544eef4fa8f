"""``savedmodel-io replace-weights``: write a copy of a SavedModel with new variable values."""

from __future__ import annotations

import argparse
import json
import zipfile
from typing import Any

import numpy as np

from savedmodel_io.errors import CorruptFileError, NotFoundError
from savedmodel_io.replace import replace_weights


def register(subparsers: Any) -> None:
    """Add the ``replace-weights`` subcommand."""
    p = subparsers.add_parser(
        "replace-weights",
        help="copy a SavedModel with some variables replaced by arrays from an .npz file",
        description=(
            "Write a copy of the SavedModel --dir at --out in which the variables named in "
            "--npz (by checkpoint key, object path or variable name, as `variables` lists "
            "them) hold the arrays stored there. Shapes and dtypes must match exactly; the "
            "graph, signatures and assets are kept."
        ),
    )
    p.add_argument("--dir", required=True, help="source SavedModel directory")
    p.add_argument("--out", required=True, help="directory to write (may equal --dir with --overwrite)")
    p.add_argument("--npz", required=True, help=".npz file: variable name -> new value")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--link", action="store_true", help="hard-link unchanged files instead of copying")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(_run=run)


def _load_npz(path: str) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NotFoundError("no such file", path=path) from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(f"cannot read the .npz file ({exc})", path=path) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CorruptFileError("not an .npz archive (a single .npy array?)", path=path)
    try:
        return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(f"cannot read the .npz file ({exc})", path=path) from None
    finally:
        data.close()


def run(args: argparse.Namespace) -> int:
    """Replace the weights and report what was written."""
    weights = _load_npz(args.npz)
    out = replace_weights(args.dir, args.out, weights, overwrite=args.overwrite, link=args.link)
    if getattr(args, "json", False):
        print(json.dumps({"output": str(out), "replaced": sorted(weights)}, indent=1))
    else:
        print(f"wrote {out} ({len(weights)} variable(s) replaced)")
    return 0
