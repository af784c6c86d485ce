"""jaxpool: exact, fast N-d pooling for JAX.

Max, min, average, sum and Lp pooling in any number of spatial dims, with custom gradients that are exact and
much faster than JAX's default autodiff of ``lax.reduce_window``, while jit, vmap, grad, jvp, jacfwd, Hessians,
remat and export keep working. Drop-in for ``flax.linen.max_pool``/``avg_pool``/``min_pool`` with PyTorch's
options (dilation, ceil_mode, count_include_pad, divisor_override, channels_first). Semantics: docs/semantics.md.
"""

from jaxpool._adaptive import adaptive_avg_pool, adaptive_max_pool
from jaxpool._blur import blur_pool
from jaxpool._fractional import fractional_max_pool
from jaxpool._geometry import pool_output_shape
from jaxpool._global import global_avg_pool, global_max_pool
from jaxpool._indices import max_pool_with_indices, min_pool_with_indices
from jaxpool._max import max_pool, min_pool
from jaxpool._sum import avg_pool, lp_pool, sum_pool
from jaxpool._unpool import max_unpool

__version__ = "0.1.0"

__all__ = [
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "avg_pool",
    "blur_pool",
    "fractional_max_pool",
    "global_avg_pool",
    "global_max_pool",
    "lp_pool",
    "max_pool",
    "max_pool_with_indices",
    "max_unpool",
    "min_pool",
    "min_pool_with_indices",
    "pool_output_shape",
    "sum_pool",
]
