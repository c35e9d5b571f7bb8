"""Whether validation looks for what a config names on this machine besides its data: pretrained
weights files and the experiments or files ``init_from`` starts from.

``rumpy check --no-data`` validates a config meant for another machine (where its data, GPUs and
weights are), so inside :func:`elsewhere` those checks are left out; ``rumpy train`` always makes
them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_LOCAL = ContextVar("rumpy_local_files_checked", default=True)


@contextlib.contextmanager
def elsewhere() -> Iterator[None]:
    """Validate as if on the machine the config is meant for: its files are not looked for here."""
    token = _LOCAL.set(False)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def local_files_checked() -> bool:
    """False inside :func:`elsewhere`."""
    return _LOCAL.get()
