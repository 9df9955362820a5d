"""``python -m diffusion_lsp`` is the same as the ``diffusion-lsp`` command."""

import sys

from diffusion_lsp.cli import main

sys.exit(main())
