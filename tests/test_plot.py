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
    assert fig.get_size_inches()[0] > plot._STYLE["figure.figsize"][0]


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_figure_rejects_bad_grid(bad, error):
    with pytest.raises(error, match=rf"figure: nrows must be an integer.*got {bad!r}"):
        plot.figure(bad)


def test_figure_sets_the_palette_for_axes_made_elsewhere():
    import matplotlib.pyplot as plt

    matplotlib.rcdefaults()
    plot.figure()
    plt.close("all")
    assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] == plot.PALETTE
    assert matplotlib.rcParams["axes.spines.right"] is False
