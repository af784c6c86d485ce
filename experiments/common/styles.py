"""How each downsampling variant is drawn in the sweep's plots: a colour, a marker, filled or hollow, and
a line style, the same in every plot.

Colours are Okabe and Ito's colour-blind-safe palette ("Color Universal Design", 2008); markers are nine
shapes, so with eight colours (8 and 9 are coprime) the pairs ``(COLORS[k % 8], MARKERS[k % 9])``,
``k = 0 .. 71``, are all different. The variants the studies know keep fixed styles (``KNOWN``); any other
variant gets the first pair, in that ``k`` order, that no known variant has and no variant before it took,
in the order the variants are given, so no two variants of one plot share a (colour, marker) pair. Variants without a
pooling layer (the controls) are drawn hollow with dashed lines; pooling variants filled with solid lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

#: Okabe-Ito: black, orange, sky blue, bluish green, yellow, blue, vermillion, reddish purple.
COLORS = ("#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7")
#: Marker shapes for variants; ``"_"`` is reserved for the reference paper's points.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
PAPER_MARKER = "_"
#: Variants without a pooling layer: hollow markers, dashed lines.
CONTROLS = ("strided_conv", "subsample", "none", "none_dilated", "none_same_head", "allconv")


@dataclasses.dataclass(frozen=True)
class Style:
    """One variant's look.

    Attributes:
      color: a hex colour of ``COLORS``.
      marker: a matplotlib marker of ``MARKERS``.
      filled: False draws the marker hollow (its face white, its edge ``color``).
      linestyle: ``"-"`` for pooling variants, ``"--"`` for the controls.
    """

    color: str
    marker: str
    filled: bool = True
    linestyle: str = "-"

    @property
    def facecolor(self) -> str:
        """The marker face colour: ``color`` when filled, else white."""
        return self.color if self.filled else "white"


def _known(color: int, marker: int, control: bool = False) -> Style:
    return Style(COLORS[color], MARKERS[marker], not control, "--" if control else "-")


#: Fixed styles of the variants the studies define (max red as before, strided black, subsample orange).
KNOWN = {
    "max_pool": _known(6, 0),
    "avg_pool": _known(3, 1),
    "lp_pool": _known(5, 2),
    "blur_pool": _known(7, 3),
    "strided_conv": _known(0, 4, control=True),
    "subsample": _known(1, 5, control=True),
    "none": _known(2, 6, control=True),
    "learned_conv": _known(4, 7),
    "convpool": _known(3, 8),
    "blur_only": _known(7, 0),
    "none_dilated": _known(2, 3, control=True),
    "none_same_head": _known(2, 1, control=True),
    "allconv": _known(5, 4, control=True),
}


def styles(variants: Sequence[str]) -> dict[str, Style]:
    """A style per variant, no two sharing a (colour, marker) pair.

    Args:
      variants: variant names in a deterministic order (``report.variant_order``); duplicates are ignored.

    Returns:
      ``{variant: Style}``: ``KNOWN`` styles for known variants; every other variant, in the given order,
      gets the first pair ``(COLORS[k % 8], MARKERS[k % 9])`` that no known variant has and no earlier
      variant took (filled with a solid line, unless it is one of ``CONTROLS``).

    Raises:
      ValueError: if the unknown variants outnumber the free pairs (72 less the known ones).
    """
    chosen = {v: KNOWN[v] for v in variants if v in KNOWN}
    used = {(s.color, s.marker) for s in KNOWN.values()}  # an unknown variant never looks like a known one
    pairs = [(COLORS[k % len(COLORS)], MARKERS[k % len(MARKERS)]) for k in range(len(COLORS) * len(MARKERS))]
    free = iter(p for p in pairs if p not in used)
    for v in dict.fromkeys(variants):
        if v not in chosen:
            pair = next(free, None)
            if pair is None:
                raise ValueError(f"variants: {len(set(variants))} variants, more than there are styles ({len(pairs)})")
            chosen[v] = Style(*pair, filled=v not in CONTROLS, linestyle="--" if v in CONTROLS else "-")
    return {v: chosen[v] for v in dict.fromkeys(variants)}
