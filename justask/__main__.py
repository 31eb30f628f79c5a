"""``python -m justask``: the command line (what ``torchrun -m justask train ...`` launches)."""

from justask.cli import main

main()
