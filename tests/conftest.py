"""Suite-wide setup.

``dtype auto`` resolves to float32 on the CPU in every test, whatever CPU runs the suite: on one with
native bf16 it would be bfloat16, and the fast path's exactness tests compare float32 arithmetic.
Set in the environment when the suite starts, before any fixture, so that session fixtures' engines
and the server processes the tests start (they copy the environment) agree; the tests of the
detection set the flags they need.
"""

from __future__ import annotations

import os

from diffusion_lsp.engine.devices import CPU_FLAGS_VAR

os.environ[CPU_FLAGS_VAR] = ""
