"""The ``--allow-external-links`` flag that every subcommand reading a model takes."""

from __future__ import annotations

import argparse


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--allow-external-links`` (also spelled ``--allow_external_links``) to ``parser``."""
    parser.add_argument(
        "--allow-external-links", "--allow_external_links", dest="allow_external_links",
        action="store_true",
        help="follow symbolic links that lead out of the model directory (trusted layouts "
             "only, e.g. a Hugging Face cache); refused by default",
    )
