"""``python -m justask``: the command line (what ``torchrun -m justask train ...`` launches)."""

import sys

from justask.cli import main

sys.exit(main())
