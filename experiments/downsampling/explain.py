"""Pictures for experiments/README.md: what each downsampling variant does to a small input.

    python -m experiments.downsampling.explain   # writes experiments/figures/*.png, prints the RF table

- ``pooling_matrix.png``: an 8x8 matrix holding a thin stroke, downsampled to 4x4 by 2x2/2 max
  pooling, 1x1/2 subsampling, 3x3/2 max pooling (padding 1) and a 3x3/2 strided convolution (one
  fixed example kernel; in a network it is learned), and below it the same for the input shifted one
  pixel right. Max pooling keeps every stroke pixel and changes little under the shift; subsampling
  drops half the stroke, and after the shift all of it.
- ``receptive_field.png``: how many input samples one feature of the MNIST-1D net sees after each
  conv and downsampling layer, per variant (``receptive_fields``).

All pooling goes through jaxpool's public functions; the convolution is ``layers.Conv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxpool  # noqa: E402
from experiments.common import io as _io  # noqa: E402
from experiments.downsampling.layers import Conv  # noqa: E402

#: One stage of the MNIST-1D net per variant: the conv's (kernel, stride), then the downsampling
#: layers' (kernel, stride). The net has 2 stages.
STAGES_1D = {
    "max_pool": ((3, 1), [(2, 2)]),
    "strided_conv": ((3, 2), []),
    "subsample": ((3, 1), [(1, 2)]),
    "blur_pool": ((3, 1), [(2, 1), (4, 2)]),
    "none": ((3, 1), []),
}
CHECKPOINTS = ("conv 1", "down 1", "conv 2", "down 2")
#: A thin diagonal stroke plus a vertical one; values 1-9 so the numbers can be printed in cells.
MATRIX = np.array(
    [[0, 0, 0, 0, 0, 0, 0, 0],
     [0, 9, 0, 0, 0, 0, 3, 0],
     [0, 0, 8, 0, 0, 0, 4, 0],
     [0, 0, 0, 7, 0, 0, 5, 0],
     [0, 0, 0, 0, 6, 0, 6, 0],
     [0, 0, 0, 0, 0, 5, 7, 0],
     [0, 0, 0, 0, 0, 0, 8, 0],
     [0, 0, 0, 0, 0, 0, 0, 0]], np.float32)  # fmt: skip
#: An example 3x3 kernel for the strided convolution (a learned one would differ): a small blur.
CONV_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16


def receptive_fields(variant: str) -> list[tuple[str, int, int]]:
    """Receptive field of one feature of the MNIST-1D net after each conv and each downsampling.

    Standard recurrence: ``r += (k - 1) * j`` then ``j *= s`` per layer of kernel k and stride s,
    starting from ``r = j = 1`` (r: input samples a feature depends on; j: input samples between
    neighbouring features).

    Args:
      variant: a key of ``STAGES_1D`` (``avg_pool`` and ``lp_pool`` share ``max_pool``'s geometry).

    Returns:
      ``[(checkpoint, receptive field, jump), ...]`` for the checkpoints in ``CHECKPOINTS`` (for
      ``strided_conv`` and ``none`` the "down" entry repeats the conv's: nothing is applied there).

    Raises:
      ValueError: for an unknown variant.
    """
    variant = "max_pool" if variant in ("avg_pool", "lp_pool") else variant
    if variant not in STAGES_1D:
        raise ValueError(f"variant={variant!r} is not one of {sorted(STAGES_1D)}")
    conv, downs = STAGES_1D[variant]
    r, j, out = 1, 1, []
    for stage in (1, 2):
        for name, layers in ((f"conv {stage}", [conv]), (f"down {stage}", downs)):
            for k, s in layers:
                r += (k - 1) * j
                j *= s
            out.append((name, r, j))
    return out


def downsampled_views(x: np.ndarray) -> dict[str, np.ndarray]:
    """The four 4x4 downsamplings of an 8x8 matrix shown in ``pooling_matrix.png``.

    Args:
      x: float32 ``(8, 8)``.

    Returns:
      ``{title: (4, 4) array}`` for 2x2/2 max pooling, 1x1/2 subsampling, 3x3/2 max pooling with
      padding 1, and the 3x3/2 convolution with ``CONV_KERNEL`` and zero padding 1.
    """
    batch = x[None, :, :, None]
    conv = Conv(1, kernel_size=3, strides=2, padding=1)
    params = {"params": {"kernel": CONV_KERNEL[:, :, None, None], "bias": np.zeros(1, np.float32)}}
    views = {
        "max pool 2x2, stride 2": jaxpool.max_pool(batch, (2, 2), strides=(2, 2)),
        "subsample 1x1, stride 2": jaxpool.max_pool(batch, (1, 1), strides=(2, 2)),
        "max pool 3x3, stride 2, pad 1": jaxpool.max_pool(batch, (3, 3), strides=(2, 2), padding=1),
        "strided conv 3x3, stride 2": conv.apply(params, batch),
    }
    return {k: np.asarray(v)[0, :, :, 0] for k, v in views.items()}


def _show(ax: plt.Axes, m: np.ndarray, title: str) -> None:
    ax.imshow(m, cmap="Greys", vmin=0, vmax=9)
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(
                j,
                i,
                f"{v:.3g}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v > 4.5 else "black",
            )
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_pooling_matrix(path: Path) -> None:
    """Draw ``pooling_matrix.png`` (see the module docstring) atomically to ``path``."""
    rows = [("input", MATRIX), ("input shifted 1 px right", np.roll(MATRIX, 1, axis=1))]
    fig, axes = plt.subplots(2, 5, figsize=(13, 5.6))
    for row, (label, x) in zip(axes, rows, strict=True):
        _show(row[0], x, label)
        for ax, (title, view) in zip(row[1:], downsampled_views(x).items(), strict=True):
            _show(ax, view, title)
    fig.suptitle(
        "8x8 -> 4x4: max pooling keeps every stroke pixel and is stable under a shift; "
        "subsampling drops half and changes",
        fontsize=10,
    )
    _io.atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    plt.close(fig)


def draw_receptive_fields(path: Path) -> None:
    """Draw ``receptive_field.png``: receptive field after each layer, per variant."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for variant in STAGES_1D:
        rf = receptive_fields(variant)
        label = "max/avg/lp pool" if variant == "max_pool" else variant
        style = "--" if variant == "strided_conv" else "-"  # it overlaps subsample exactly
        ax.plot(CHECKPOINTS, [r for _, r, _ in rf], style, marker="o", label=label)
        ax.annotate(
            f"{rf[-1][1]} (stride {rf[-1][2]})",
            (3, rf[-1][1]),
            textcoords="offset points",
            xytext=(6, -3),
            fontsize=8,
        )
    ax.set_xlabel("after layer")
    ax.set_ylabel("receptive field (input samples)")
    ax.set_title("MNIST-1D net: input span of one feature (input length 40)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _io.atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight"))
    plt.close(fig)


def main() -> None:
    """CLI: draw both pictures into ``--outdir`` and print the receptive-field table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default=str(Path(__file__).parents[1] / "figures"))
    outdir = Path(parser.parse_args().outdir)
    draw_pooling_matrix(outdir / "pooling_matrix.png")
    draw_receptive_fields(outdir / "receptive_field.png")
    for variant in STAGES_1D:
        steps = "  ".join(f"{name}: {r}" for name, r, _ in receptive_fields(variant))
        print(f"{variant:13s} {steps}")
    print(f"wrote {outdir / 'pooling_matrix.png'} and {outdir / 'receptive_field.png'}")


if __name__ == "__main__":
    main()
