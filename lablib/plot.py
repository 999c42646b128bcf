"""One look for every figure of the course's labs and chapters: a matplotlib style and :func:`figure`."""
from __future__ import annotations

from . import checks

#: The course's matplotlib settings: readable on screen and in the HTML book.
_STYLE = {
    "figure.figsize": (6.4, 3.8), "figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight",
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 12, "axes.labelsize": 11, "legend.frameon": False, "lines.linewidth": 2.0,
}
#: Okabe-Ito colours, distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def figure(nrows: int = 1, ncols: int = 1, *, width: float | None = None, height: float | None = None, **kwargs):
    """``(fig, axes)`` in the course style, ``axes`` one Axes when 1x1; size in inches (every lab, first in lab 01)."""
    nrows, ncols = checks.integer(nrows, "nrows", "figure"), checks.integer(ncols, "ncols", "figure")
    import matplotlib.pyplot as plt
    from cycler import cycler

    # the course's style, with PALETTE as the colour cycle, for this and every later figure
    plt.rcParams.update({**_STYLE, "axes.prop_cycle": cycler(color=PALETTE)})
    base_w, base_h = _STYLE["figure.figsize"]
    width = width if width is not None else min(base_w * ncols * 0.8 + base_w * 0.2, 14)
    height = height if height is not None else base_h * nrows * 0.9
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)
