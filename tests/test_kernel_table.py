"""tests/kernel_table.replaced changes the current backend's kernel entry for its block only."""

from __future__ import annotations

import jax
import pytest
from kernel_table import replaced

from jaxpool import _dispatch


def test_replaced_changes_the_entry_inside_and_restores_it_after_an_error():
    before = _dispatch.kernels()
    with pytest.raises(RuntimeError, match="inside"):
        with replaced(fuse_winners_views=before.fuse_winners_views + 5) as changed:
            assert _dispatch.kernels() is changed
            assert changed.fuse_winners_views == before.fuse_winners_views + 5
            assert changed.max_group_window == before.max_group_window
            raise RuntimeError("inside")
    assert _dispatch.kernels() is before
    assert _dispatch.TABLE[jax.default_backend()] is before


def test_replaced_rejects_an_unknown_field():
    with pytest.raises(TypeError):
        with replaced(no_such_field=1):
            pass
