"""``python -m rumpycore.cli``: the same as the ``rumpy`` command (used by torchrun relaunches)."""

from . import main

main()
