"""lablib.plot: one style for every figure."""
import matplotlib
import pytest

from lablib import plot


def test_figure_applies_the_style_and_returns_axes():
    fig, ax = plot.figure()
    assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0] == plot.PALETTE[0]
    assert hasattr(ax, "plot")
    fig, axes = plot.figure(1, 3)
    assert axes.shape == (3,)
    assert fig.get_size_inches()[0] > plot.STYLE["figure.figsize"][0]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_figure_rejects_bad_grid(bad):
    with pytest.raises(ValueError, match="positive int"):
        plot.figure(bad)
