"""Suite-wide fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cpu_without_native_bf16():
    """``dtype auto`` resolves to float32 on the CPU in every test, whatever CPU runs the suite (on
    one with native bf16 it would be bfloat16, and the fast path's exactness tests compare float32
    arithmetic); the tests of the detection set the flags they need. Session-wide, so that the
    engines of session fixtures are float32 too."""
    from diffusion_lsp.engine import loading

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "_cpu_flags", lambda: "")
        yield
