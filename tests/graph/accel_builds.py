"""A fixture running a test once per build of the C loops (AVX-512, AVX2+FMA, baseline).

``_nnaccel.simd(build)`` points every kernel at one build; the fixture restores the build
chosen at import afterwards and skips builds this CPU (or compiler) does not have.
"""

from __future__ import annotations

import pytest

from savedmodel_io.graph.ops._accel import accel

BUILDS = ("baseline", "avx2", "avx512f")


@pytest.fixture(params=BUILDS)
def build(request):
    """Every C kernel switched to one build for the test, then back to the one in use."""
    if accel is None:
        pytest.skip("the C accelerators are not built")
    chosen = accel.simd()
    try:
        accel.simd(request.param)
    except ValueError:
        pytest.skip(f"no {request.param} build on this CPU")
    yield request.param
    accel.simd(chosen)
