"""TensorFlow as the test oracle: run in a subprocess, answers recorded in the fixture cache.

Tests never import TensorFlow to compute an expected value. They ask an :class:`Oracle`, whose
TensorFlow side is a module of this package (``answer(requests) -> answers``, run by
``run.py`` in one subprocess for every request not yet recorded). Each answer is stored under
``tests/.cache/fixtures/oracle/<name>/`` keyed by the oracle's code, the TensorFlow version and
the request, with the files and directories it names keyed by their content: a rerun, or a new
checkout with the same cache, does not start TensorFlow. :class:`ModuleOracle` runs TF-side
functions written in the test module itself. See tests/README.md.
"""

from _oracles.env import CACHE, TF_ENV, has_tensorflow, no_tf_reason
from _oracles.recorded import ModuleOracle, Oracle, content_digest

__all__ = ["CACHE", "TF_ENV", "ModuleOracle", "Oracle", "content_digest", "has_tensorflow",
           "no_tf_reason"]
