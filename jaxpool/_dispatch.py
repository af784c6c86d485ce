"""The per-backend kernel table: which of jaxpool's kernels (or XLA's own) each pass uses (docs/semantics.md §7).

Every measured kernel choice of the library is one field of :class:`Kernels`, and :data:`TABLE` holds one
entry per backend. The entry is looked up at trace time from ``jax.default_backend()`` (the platform jit
compiles for), so one program never mixes two backends' choices. All choices are exact: they change speed and
program size, never values, winners or gradients (the tests hold every path to the same NumPy reference).

CPU entries are measured (2-core x86 CPU, float32, ``jit`` of forward+backward, one process, interleaved;
figures beside each field and in README "How it is fast"). No GPU or TPU has been measured yet
(``experiments/benchmarks/device_report.sh`` is ready for one): their entries are the CPU choices, the safe
default without measurements, because (a) each CPU choice is a different *formulation* of the same exact
computation, not a CPU-specific trick whose speed depends on the CPU, (b) the split and blocked large-window
schemes bound the work per element on every backend, whereas the cost of XLA's own
``reduce_window``/``select_and_scatter`` grows with the window everywhere, and (c) the alternative kernels
(XLA's ``select_and_scatter`` gradient) break the semantics contract's rules (ties, NaN, dilation) or
determinism (scatter-add on GPU). Replace them with measured values when a device report exists.
"""

from __future__ import annotations

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class Kernels:
    """Kernel choices of one backend.

    Attributes:
      max_group_window: the largest product of window lengths reduced in one fused pass over several axes
        (one view per window offset); larger windows are split into one pass per axis.
      max_group_window_stride1: the same for max/min groups whose axes all have stride 1.
      max_group_window_values: the same for max/min *values* passes (no winners: the forward pass outside
        differentiation) of overlapping strided windows.
      split_channels_first_extreme: max/min over overlapping windows of an input whose last array axis is
        spatial (channels first) runs one pass per axis, never a fused multi-axis group (values without winners
        of a 16-bit input excepted).
      unblocked_split_axes: max/min windows split into passes of small windows (``_levels``) on at least this
        many spatial axes run those passes without border blocks (``_views.interior_blocks``): the padded
        views instead of one block per border region.
      store_overlapping_sums: window sums of overlapping windows (sum pooling; avg pooling at strides above 1;
        through slice views) are computed and stored by themselves (``_fence.fenced``, XLA:CPU only), so that
        a reverse pass whose cotangent depends on them reads them instead of recomputing them per view.
      large_sum_window: the smallest window length (of one axis, dilation included in nothing) from which a
        window-sum pass (sum/avg/lp, forward and reverse) uses the blocked running-sum scheme of
        ``_large_windows`` instead of one view per offset / ``lax.reduce_window``.
      large_extreme_window: the same for max/min values and winners (forward, reverse, jvp, indices).
      split_extreme_window: the smallest single-axis max/min window split into passes of small windows
        (``_levels``; below ``large_extreme_window``).
      split_sum_window: the same for window sums (sum/avg/lp) whose window has a factor up to 16.
      split_sum_below: window sums split only below this length; from it on they take the large-window
        scheme (``large_sum_scheme``) whatever their factors.
      sum_reduce_window_1d: a single-axis window sum that does not tile its axis goes through
        ``lax.reduce_window`` (differentiated by JAX) rather than slice views.
      extreme_reduce_window_padded_1d: a padded single-axis max/min *values* pass (no winners) goes through
        ``lax.reduce_window``.
      large_sum_scheme: how a large window sum is computed: "anchored" (``_anchored``: the sums at sub-block
        starts, moved to the other starts by a few differences) or "running" (``_large_windows``' blocked
        running sums).
      large_scan: how the large-window scheme runs its within-block scans: "associative"
        (``lax.associative_scan``) or "sequential" (``lax.scan`` over the window offsets).
      stride_block_windows: a strided large window (dilation 1) that is at most this many blocks of
        ``gcd(window, stride)`` positions is reduced per block then per window (``_stride_blocks``) instead.
      stride_block_min_window: such a window takes the block scheme from this length on, below the
        large-window crossovers too.
      match_winners_views: a group whose windows tile the input (stride == window, no padding or
        dilation) and that has at most this many views finds its winners as the first view equal to the
        window's extreme (``_windows._argextreme_match``) instead of a compare/select chain; 0: never.
      fuse_winners_views: a group of overlapping windows (stride below the window's extent) with at most this
        many views leaves its winners' compare chain to XLA, which recomputes it inside the reverse pass,
        instead of computing and storing them once behind a conditional (``_fence.fenced``, XLA:CPU only);
        0: always stored.
    """

    max_group_window: int
    max_group_window_stride1: int
    large_sum_window: int
    large_extreme_window: int
    sum_reduce_window_1d: bool
    extreme_reduce_window_padded_1d: bool
    large_scan: str = "associative"
    large_sum_scheme: str = "running"
    split_extreme_window: int = 1 << 30
    split_sum_window: int = 1 << 30
    split_sum_below: int = 1 << 30
    stride_block_windows: int = 8
    stride_block_min_window: int = 1 << 30
    match_winners_views: int = 0
    fuse_winners_views: int = 0
    max_group_window_values: int = 32
    split_channels_first_extreme: bool = False
    unblocked_split_axes: int = 1 << 30
    store_overlapping_sums: bool = False


#: Measured on the 2-core CPU (see the field comments of each entry and README "How it is fast").
_CPU = Kernels(
    # 3x3x3/2 = 27 views fuse into one loop; 2-D 7x7 = 49 views were slower than two 1-D passes of 7.
    max_group_window=32,
    # Max/min at stride 1: up to 12 views fuse; from 16 on one pass per axis is faster. Max fwd+bwd f32 SAME,
    # one process per case, interleaved, idle 2-core CPU, CPU time grouped vs per-axis passes: 3x3/1
    # (64,32,32,64) 15.1 vs 37.2 ms, 2x2x2/1 2.3 vs 3.6, 4x3/1 5.1 vs 5.1, 2x2x3/1 4.8 vs 5.6; 4x4/1
    # (16,32,32,64) 6.0-6.7 vs 3.6-4.8 ms, 5x5/1 10.6-11.4 vs 4.3-5.9 ms, (64,32,32,64) 45 vs 27 ms, 3x3x3/1
    # (8,16,16,16,32) 10.1-10.2 vs 6.6-6.8 ms, (16,16,16,16,64) 43.4 vs 43.5 ms, NCDHW (16,64,16,16,16) 392 vs
    # 126 ms. Strided groups stay fused up to 32: 5x5/2 SAME 26.6 vs 33.8 ms. Window sums keep 32: 3x3x3/1
    # (16,16,16,16,64) sum 3.4 vs 6.0 ms, avg 5.1 vs 7.8 ms (NCDHW the other way: 16.6 vs 11.1, 19.5 vs 10.1).
    max_group_window_stride1=12,
    # Max/min windows split into passes of small windows (_levels) from 16 on (the plan keeps one pass where
    # that is cheaper), and the blocked running extremes (_large_windows) only from 8192, where the split's
    # compile time (one pass per level) would pass flax's + 1 s. Max fwd+bwd, stride 1 SAME, f32, idle 2-core
    # CPU, compile / run, split vs blocked: (8, 16384, 16) w=64 0.49 s / 5.5 ms vs 0.51 s / 35.0 ms; w=4096
    # 0.95 s / 11.3 ms vs 0.37 s / 44.2 ms; (2, 262144, 16) w=4096 0.96 s / 106 ms vs 0.54 s / 176 ms; w=65536
    # 1.34 s / 141 ms vs 0.52 s / 194 ms.
    large_extreme_window=8192,
    split_extreme_window=16,
    # Window sums with a factor up to 16 split from 16 on (the plan keeps 16 itself whole): sum fwd+bwd
    # (8, 16384, 16) f32 stride 1 SAME, idle 2-core CPU, split vs unsplit: w=32 1.89 vs 4.75 ms (reduce_window);
    # w=4096 4.6 ms vs 33-37 ms (blocked). Sums with no such factor take the blocked scheme from 64, as before:
    # 1-D (8, 16384, 16) f32, fwd+bwd, stride 1 SAME, heavily loaded 2-core CPU (load ~12; ours vs ours,
    # interleaved, best of 5): w=32 views 64 ms vs blocked 345 ms, w=64 views 707 ms vs blocked 308 ms.
    split_sum_window=16,
    large_sum_window=64,
    # From 512 on, window sums take the large-window scheme even where they split: sums anchored at sub-block
    # starts (large_sum_scheme below, read run by run) against the split passes, fwd+bwd (8, 16384, 16) f32
    # stride 1 SAME, one process, interleaved, 2-core CPU, median of 21-31, two runs: sum w=128 1.54-1.60 vs
    # 1.65-1.66 ms, w=256 1.55-1.57 vs 1.51-2.06, w=512 1.50-1.65 vs 1.56-1.65, w=1024 1.59 vs 1.85, w=2048
    # 1.50 vs 1.73, w=4096 1.52 vs 1.97; avg w=128 1.56-1.61 vs 1.49-1.86, w=256 1.56-1.61 vs 1.44-1.53, w=512
    # 1.59-1.67 vs 1.94-2.24, w=1024 1.48 vs 1.87, w=4096 1.47 vs 1.96. Compile 0.47-0.72 s vs 0.05-0.13 s, so
    # the split passes keep the windows below 512, where the two run alike.
    split_sum_below=512,
    # 1-D 3/2 SAME sums: reduce_window and its JAX transpose match or beat the views.
    sum_reduce_window_1d=True,
    # 1-D SAME max values: reduce_window beats the border blocks of the views.
    extreme_reduce_window_padded_1d=True,
    # Sequential scans: compile time flat in the window (6.6 s at w=64 and 4096 under that load) where
    # lax.associative_scan took 14-45 s; run time equal or better (sum w=64: 308 vs 364 ms). The forward pass
    # is one in-place fori_loop for prefix and suffix (max w=256 s=1 fwd: 97 HLO ops, 1 loop, run 58 ms vs
    # 148 ops, 2 scans, 191 ms with moveaxis-ed lax.scans); the reverse pass one lax.scan for both segmented
    # sums (fwd+bwd 2 loops instead of 4: compile 4.74 -> 4.31 s wall at load ~15, run 347 -> 238 ms).
    large_scan="sequential",
    # Large window sums anchored at sub-block starts (O(1) work per element, three sweeps of the input) rather
    # than blocked running sums (a loop over the window's offsets): w=64, where the running sums ran 308 ms
    # under load, the anchored sums run 1.85 ms (split passes 1.53 ms; same process, idle).
    large_sum_scheme="anchored",
    # Strided windows as stride-aligned blocks (_stride_blocks), max fwd+bwd (8, 16384, 16) f32 SAME, stride
    # w/4, compile (process CPU s) / run, views vs blocks vs flax, one process, load ~19:
    # w=8: 0.52 s / 16.1 ms vs 0.50 s / 47.7 ms vs 0.42 s / 173 ms; w=16: 0.77 / 6.6 vs 0.59 / 36.1 vs 0.46 / 180;
    # w=32: 1.30 / 4.4 vs 0.69 / 11.5 vs 0.37 / 226; w=64: 2.82 / 16.0 vs 0.63 / 26.3 vs 0.41 / 245 (wall
    # compile 10.3 s vs 2.2 s vs 1.6 s). Views compile one program per offset; blocks stay flat.
    stride_block_windows=8,
    stride_block_min_window=16,
    # Winners of tiling windows as "first view equal to the max": max fwd+bwd, f32, one process, interleaved,
    # 2-core CPU loaded by a concurrent training run, chain vs match (CPU-time ratio): (64,32,32,64) 2x2/2
    # 1.52-1.71x faster, (64,1024,64) 2/2 1.24x, (8,16,16,16,32) 2x2x2/2 1.39x; 3x3/3 (9 views) 0.97x.
    # Overlapping windows were slower matched (1-D stride-1 w=8 0.77x, 3x3x3/2 SAME 0.20x), so only tiling
    # groups of up to 8 views take it.
    match_winners_views=8,
    # Winners of overlapping windows of 2 views recomputed in the reverse pass instead of stored behind the
    # conditional: max fwd+bwd f32, one process per case, interleaved, idle 2-core CPU, two runs, CPU-time
    # ratio stored / recomputed: (8, 16384, 16) 2/1 SAME 2.9-3.8x, 2/1 VALID 1.7x; (64, 32, 32, 64) 2x1/1 SAME
    # 1.2-1.3x; (64, 1024, 64) 2/1 SAME 0.92-1.02x. Three views gain at 16 channels ((8, 16384, 16) 3/1 SAME
    # 1.8-2.3x) but lose at 64 ((64, 1024, 64) 3/1 SAME 0.66-0.81x), so they keep the stored winners, as do
    # tiling windows (2/2 VALID: 0.75-0.87x) and 4 or more views (1-D 4/1, 5/1, 8/1 SAME 0.45-0.61x; 2x2/1
    # SAME 0.67x; 3x3/1 SAME 0.25x).
    fuse_winners_views=2,
    # Max values without winners (the forward pass outside differentiation) of overlapping strided windows:
    # fused up to 16 views, smaller groups beyond. Process CPU ms, fused vs per axis, one process, interleaved,
    # 2-core CPU: 3x3x3/2 SAME (16,16,16,16,64) 9.53 vs 1.87 (5.62 vs 1.63 in another run; as an (H, W) group
    # of 9 and a D pass, the grouping this limit gives, 2.33 vs 2.73 per axis), (8,16,16,16,32) 2.61 vs 0.34
    # (grouped 0.34 vs 0.51); 5x5/2 SAME (64,32,32,64) 3.60 vs 3.65; 4x4/2 2.80 vs 3.20; 3x3/2 1.08 vs 1.70.
    # Winners passes keep 32 (fwd+bwd 3x3x3/2 (16,16,16,16,64) 5.56 vs 8.78 ms).
    max_group_window_values=16,
    # Channels first (spatial last axis), overlapping max windows: one pass per axis. Process CPU ms, fused vs
    # per axis, train step (values, winners, reverse) / jit(vjp) / forward, one process, interleaved: NCHW
    # (64,64,32,32) 3x3/2 SAME 31.0 vs 14.8 / 24.3 vs 14.6 / 3.73 vs 2.03; 5x5/2 108.6 vs 18.7 / 80.5 vs 14.3 /
    # 19.5 vs 3.2; 3x3/1 93.8 vs 31.9 / 68.0 vs 15.6 / 14.8 vs 2.7; NCDHW (16,64,16,16,16) 3x3x3/2 61.9 vs 22.9
    # / 49.1 vs 24.2 / 10.9 vs 2.6. Tiling windows stay fused (2x2/2 NCHW 7.4 vs 16.8, 2x2x2/2 NCDHW 9.8 vs
    # 13.3 train). Channels-last layouts keep the groups (3x3/2 NHWC vjp 5.67 vs 9.75). bfloat16, wall ms,
    # fused vs per axis: jit(vjp) NCHW 3x3/1 106 vs 30 (53 vs 13 in a second run), NCDHW 3x3x3/1 66 vs 35,
    # 3x3x3/2 21-22 vs 15-16, but NCHW 3x3/2 11 vs 15-16; its values alone stay fused (forward 3x3/1 18.9 vs
    # 42.0, 3x3x3/2 3.2 vs 5.4: one pass widens each view on the fly, several store float32 in between).
    split_channels_first_extreme=True,
    # Max/min windows split on 2 or more axes: their passes without border blocks. Max fwd+bwd, stride 1 SAME,
    # f32, one process per case, border blocks vs none, compile (trace + XLA, best of 3) / run (median of 9):
    # 2-D (4,128,128,16) 31x31 1.04 s / 5.15 ms vs 0.60 s / 5.26 ms, 63x63 1.14 / 6.51 vs 0.61 / 6.28 (1.17 /
    # 7.36 vs 0.59 / 6.95 in another run); (8,64,64,32) 31x31 1.12 / 5.17 vs 0.65 / 5.54, 63x63 1.31 / 8.73 vs
    # 0.69 / 6.93; (2,256,256,8) 31x31 1.01 / 12.9 vs 0.60 / 10.3, 63x63 1.18 / 18.3 vs 0.63 / 11.8; 3-D
    # (2,48,48,48,8) 31^3 1.64 / 49.9 vs 0.93 / 36.8. One split axis keeps them: 1-D (8,16384,16) w=63 0.50 /
    # 7.50 vs 0.30 / 11.9, w=256 0.62 / 9.05 vs 0.43 / 21.1, w=4096 0.95 / 12.5 vs 0.61 / 28.4; so do unsplit
    # windows (2-D 15x15: 0.92 / 3.47 vs 0.39 / 4.67).
    unblocked_split_axes=2,
    # Sum pooling's overlapping window sums stored by themselves: XLA:CPU otherwise fuses them into the reverse
    # pass of a loss or activation that reads them, once per view. Process CPU ms, train step (grad of
    # 0.5 * sum(y ** 2)) / jit(vjp) / forward, one process, interleaved, recomputed vs stored: sum 3x3/1 SAME
    # (64,32,32,64) 51.8 vs 8.9 (53.7 vs 22.3 in a slower run) / 3.68 vs 2.54 / 3.75 vs 3.75 (after the fence
    # stopped copying its operand); 3x3x3/1 SAME (16,16,16,16,64) 81.8 vs 6.9 / 4.0 vs 3.8 / 4.8 vs 3.5. avg and
    # lp keep their sums in loops of their own at stride 1 (train avg 3x3/1 22.5 vs 23.5, 5.0 vs 6.6, NCHW 10.1
    # vs 11.4; forward 5-30 % slower stored), but not avg's strided windows: train 3x3x3/2 SAME (16,16,16,16,64)
    # 4.09 vs 2.00, 3x3/2 (64,32,32,64) 7.0 vs 6.1, NCDHW 3x3x3/2 6.9 vs 6.0. So sums store wherever windows
    # overlap, averages only strided overlapping windows, lp never.
    store_overlapping_sums=True,
)

#: Backend name -> kernel choices. GPU and TPU: not measured, the CPU choices (see the module docstring).
TABLE: dict[str, Kernels] = {
    "cpu": _CPU,
    "gpu": _CPU,
    "tpu": _CPU,
}

_ALIASES = {"cuda": "gpu", "rocm": "gpu"}


def kernels(backend: str | None = None) -> Kernels:
    """The kernel choices for ``backend`` (default: ``jax.default_backend()``, read at trace time).

    Args:
      backend: a platform name ("cpu", "gpu", "cuda", "rocm", "tpu", ...) or None.

    Returns:
      The :class:`Kernels` entry of that backend; unknown backends get the CPU entry.
    """
    name = jax.default_backend() if backend is None else backend
    name = _ALIASES.get(name, name)
    return TABLE.get(name, _CPU)
