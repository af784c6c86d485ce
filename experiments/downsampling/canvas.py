"""Digits on a larger canvas: random placement that keeps every digit pixel, and shifts that never wrap.

A ``digit_size`` x ``digit_size`` digit is pasted on a zero ``canvas_size`` x ``canvas_size`` canvas with its
top-left corner at ``(row, col)``. Training digits are placed anywhere the box fits, ``0 <= row, col <=
canvas_size - digit_size``; test digits at least ``margin`` pixels in from every edge, ``margin <= row, col
<= canvas_size - digit_size - margin``. Every test input also exists on an *enlarged* canvas, the same picture
with ``margin`` zero pixels added on each side, so that a shift by ``(a, b)`` with ``|a|, |b| <= margin`` is
the crop of the enlarged canvas starting at ``(margin - a, margin - b)``: the digit moves to ``(row + a, col
+ b)``, which lies inside ``[0, canvas_size - digit_size]`` — a position the training set uses — so no digit
pixel leaves the input and the shifted input stays in the training distribution. Because the test digit
keeps ``margin`` zero pixels to every border, ``np.roll`` by the same offsets moves only zeros across the
border and gives the same input (``shifted_crop`` equals ``metrics.circular_shift`` on these inputs).

The offset convention is ``np.roll``'s: a positive offset moves the content towards higher indices.
"""

from __future__ import annotations

import numpy as np


def check_canvas(canvas_size: int, margin: int, digit_size: int = 28) -> None:
    """Raise unless a ``digit_size`` box fits the canvas with ``margin`` free pixels on each side.

    Args:
      canvas_size: the model input's height and width (``data.canvas_size``).
      margin: the test digits' free border, the largest shift (``data.margin``).
      digit_size: the digit's height and width (28 for MNIST).

    Raises:
      ValueError: naming ``data.canvas_size`` or ``data.margin`` and the allowed values.
    """
    if not isinstance(margin, int) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"config.data.margin={margin!r} is invalid; allowed: an integer >= 0")
    smallest = digit_size + 2 * margin
    if not isinstance(canvas_size, int) or isinstance(canvas_size, bool) or canvas_size < smallest:
        raise ValueError(
            f"config.data.canvas_size={canvas_size!r} is invalid; allowed: an integer >= digit size {digit_size} "
            f"+ 2 * data.margin ({margin}) = {smallest}, so a test digit fits with the margin on each side"
        )


def draw_positions(
    rng: np.random.Generator, num: int, canvas_size: int, margin: int, digit_size: int = 28
) -> np.ndarray:
    """Top-left corners ``(row, col)``, each uniform over ``{margin, ..., canvas_size - digit_size - margin}``.

    Args:
      rng: the NumPy generator to draw from (two integer draws per example, rows then columns).
      num: number of examples.
      canvas_size, margin, digit_size: as ``check_canvas`` (``margin=0`` for training digits).

    Returns:
      int64 ``(num, 2)``.

    Raises:
      ValueError: from ``check_canvas``.
    """
    check_canvas(canvas_size, margin, digit_size)
    return rng.integers(margin, canvas_size - digit_size - margin + 1, size=(num, 2))


def place_on_canvas(digits: np.ndarray, positions: np.ndarray, canvas_size: int, margin: int) -> np.ndarray:
    """Paste each digit on a zero canvas enlarged by ``margin`` on each side.

    Args:
      digits: ``(N, h, w)`` (any dtype; zero is the background).
      positions: int ``(N, 2)``: the digit's top-left corner in the *un-enlarged* canvas, each in ``[0,
        canvas_size - h]`` (resp. ``w``).
      canvas_size: the un-enlarged canvas's height and width.
      margin: zero pixels added on each side.

    Returns:
      ``(N, canvas_size + 2 * margin, canvas_size + 2 * margin)`` of ``digits.dtype``; example n holds
      ``digits[n]`` at rows ``margin + positions[n, 0] + [0, h)`` and the matching columns, zeros elsewhere.

    Raises:
      ValueError: if the shapes disagree or a digit would not fit on the canvas.
    """
    n, h, w = digits.shape
    if positions.shape != (n, 2):
        raise ValueError(f"positions has shape {positions.shape}; expected (N, 2) = {(n, 2)}")
    if positions.size and (positions.min() < 0 or positions[:, 0].max() > canvas_size - h
                           or positions[:, 1].max() > canvas_size - w):
        raise ValueError(f"a position puts a {h}x{w} digit outside the {canvas_size}x{canvas_size} canvas")
    size = canvas_size + 2 * margin
    out = np.zeros((n, size, size), digits.dtype)
    for i, (r, c) in enumerate(positions + margin):
        out[i, r : r + h, c : c + w] = digits[i]
    return out


def shifted_crop(enlarged: np.ndarray, offsets: np.ndarray, margin: int) -> np.ndarray:
    """The inputs shifted by ``offsets``, cropped from their enlarged canvases (no wrap-around).

    Args:
      enlarged: ``(N, H + 2 * margin, W + 2 * margin, ...)``, as ``place_on_canvas`` returns (trailing axes,
        such as channels, are kept).
      offsets: int ``(N, 2)``, each in ``[-margin, margin]``; all zeros gives the centre crop, the model
        input.
      margin: the enlargement on each side.

    Returns:
      ``(N, H, W, ...)``: example n is ``enlarged[n, margin - a : margin - a + H, margin - b : margin - b +
      W]`` for ``(a, b) = offsets[n]``, the centre crop moved by ``(a, b)`` as ``np.roll`` moves it.

    Raises:
      ValueError: if ``offsets`` has the wrong shape or an offset exceeds ``margin``.
    """
    n = enlarged.shape[0]
    if offsets.shape != (n, 2):
        raise ValueError(f"offsets has shape {offsets.shape}; expected (N, 2) = {(n, 2)}")
    if offsets.size and np.abs(offsets).max() > margin:
        raise ValueError(f"an offset of {np.abs(offsets).max()} exceeds the canvas margin {margin}")
    h, w = enlarged.shape[1] - 2 * margin, enlarged.shape[2] - 2 * margin
    out = np.empty((n, h, w, *enlarged.shape[3:]), enlarged.dtype)
    for i, (a, b) in enumerate(offsets):
        out[i] = enlarged[i, margin - a : margin - a + h, margin - b : margin - b + w]
    return out
