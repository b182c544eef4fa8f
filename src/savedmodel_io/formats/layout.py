"""The SavedModel directory: the name of every file and directory in it, and which proto is read.

::

    saved_model.pb | saved_model.pbtxt | saved_model.cpb   the SavedModel proto (one of them)
    fingerprint.pb                                         its FingerprintDef
    variables/variables.index                              the TensorBundle of the variables
    variables/variables.data-00000-of-00001 ...            its data shards
    assets/                                                files the graph reads (vocabularies)
    assets.extra/                                          anything else (TensorFlow never reads it)

A checkpoint directory written by ``tf.train.CheckpointManager`` holds bundles and a
``checkpoint`` state file naming the latest. Every other module takes these names from
here. Facts from tensorflow/tensorflow ``tensorflow/cc/saved_model/constants.h`` and
``tensorflow/core/util/tensor_bundle/naming.cc``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

__all__ = [
    "ASSETS_DIR",
    "ASSETS_EXTRA_DIR",
    "BINARY_FILES",
    "CHECKPOINT_STATE",
    "FINGERPRINT",
    "INDEX_SUFFIX",
    "SAVED_MODEL_CPB",
    "SAVED_MODEL_FILES",
    "SAVED_MODEL_PB",
    "SAVED_MODEL_PBTXT",
    "VARIABLES_DIR",
    "VARIABLES_FILENAME",
    "VARIABLES_INDEX",
    "VARIABLES_PREFIX",
    "data_filename",
    "data_glob",
    "index_filename",
    "saved_model_file",
]

SAVED_MODEL_PB = "saved_model.pb"
SAVED_MODEL_PBTXT = "saved_model.pbtxt"
SAVED_MODEL_CPB = "saved_model.cpb"
# Which file holds the proto when several exist, in order of preference: the chunked .cpb
# first, as TensorFlow's chunked reader does (tensorflow/tools/proto_splitter/cc/util.cc
# ``OnlyContainsPb``, used by ``Merger::Read`` and fingerprinting), then .pb before .pbtxt
# (tensorflow/cc/saved_model/reader.cc ``ReadSavedModel``).
SAVED_MODEL_FILES = (SAVED_MODEL_CPB, SAVED_MODEL_PB, SAVED_MODEL_PBTXT)
# The binary ones, all that fingerprinting and the .cpb writer consider.
BINARY_FILES = (SAVED_MODEL_CPB, SAVED_MODEL_PB)

FINGERPRINT = "fingerprint.pb"
ASSETS_DIR = "assets"
ASSETS_EXTRA_DIR = "assets.extra"
VARIABLES_DIR = "variables"
VARIABLES_FILENAME = "variables"  # the bundle's name inside variables/
INDEX_SUFFIX = ".index"
VARIABLES_PREFIX = f"{VARIABLES_DIR}/{VARIABLES_FILENAME}"
VARIABLES_INDEX = VARIABLES_PREFIX + INDEX_SUFFIX
CHECKPOINT_STATE = "checkpoint"


def saved_model_file(
    exists: Callable[[str], bool], names: Sequence[str] = SAVED_MODEL_FILES
) -> str | None:
    """The file holding the SavedModel proto: the first of ``names`` that ``exists``, or None."""
    return next((name for name in names if exists(name)), None)


def index_filename(prefix: str | os.PathLike[str]) -> str:
    """``<prefix>.index``: the bundle's index (a LevelDB table)."""
    return os.fspath(prefix) + INDEX_SUFFIX


def data_filename(prefix: str | os.PathLike[str], shard: int, num_shards: int) -> str:
    """``<prefix>.data-<shard>-of-<num_shards>`` (five digits each, as TF names them)."""
    return f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}"


def data_glob(prefix: str | os.PathLike[str]) -> str:
    """A glob pattern matching every data shard of the bundle ``prefix``."""
    return f"{os.fspath(prefix)}.data-*"
