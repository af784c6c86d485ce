"""One helper for tests that run the library under other kernel choices (``jaxpool._dispatch``)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import jax

from jaxpool import _dispatch


@contextlib.contextmanager
def replaced(**fields: object) -> Iterator[_dispatch.Kernels]:
    """Run the block with the current backend's kernel entry changed in ``fields``, then restore it.

    JAX's caches are cleared on entry and exit, so programs traced inside see the changed choices and programs
    traced later see the original ones again. Yields the changed entry.
    """
    backend = jax.default_backend()
    had = backend in _dispatch.TABLE
    saved = _dispatch.TABLE.get(backend, _dispatch.TABLE["cpu"])
    _dispatch.TABLE[backend] = changed = dataclasses.replace(saved, **fields)
    jax.clear_caches()
    try:
        yield changed
    finally:
        if had:
            _dispatch.TABLE[backend] = saved
        else:
            del _dispatch.TABLE[backend]
        jax.clear_caches()
