"""rumpy plugin: spandrel's image-to-image architectures (SwinIR, HAT, DAT, SPAN, RRDBNet, ...) as
rumpy models, trainable by name and recognised from community weight files."""

from __future__ import annotations

import rumpycore

from .catalog import ENTRIES
from .models import spec

__version__ = "0.1.0"


@rumpycore.hookimpl
def register_models(register):
    for entry in ENTRIES:
        register(spec(entry))
