"""The shared figure style: formatters read as the tables promise, and axes drawn with them label their ticks so."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from wattyear.experiments import style  # noqa: E402


def tick_labels(ax, axis="y"):
    ax.figure.canvas.draw()
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(target.get_view_interval())
    return [t.get_text() for t in target.get_ticklabels() if lo - 1e-9 <= t.get_position()[axis == "y"] <= hi + 1e-9]


def test_money_prices_and_shares_one_way():
    assert [style.money(v) for v in (3.0e10, 8.5e8, 1.2e12, -4.48e10)] == ["$30.0B", "$850M", "$1.2T", "−$44.8B"]
    assert style.money(4.65e9, signed=True) == "+$4.7B"
    assert [style.price(v) for v in (0.0962, 0.7033, 23.84)] == ["$0.0962/Mtok", "$0.703/Mtok", "$23.8/Mtok"]
    assert style.price(0.004652, signed=True) == "+$0.00465/Mtok"
    assert style.percent(-1.09) == "−109%" and style.points(0.004) == "+0.4 pp"
    assert style.value(float("nan"), "$/Mtok", missing="–") == "–"


def test_symlog_ticks_read_as_plain_numbers():
    """A ratio running from −15 to 3 on a symmetric-log axis (linear within ±1): ticks −10, −1, −0.5, 0, 0.5,
    1, written without powers of ten; one from −3 to 1.2 gets −2 too."""
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [-15.0, 0.2, 3.0])
    style.symlog_axis(ax)
    ax.set_ylim(-15, 3)
    assert tick_labels(ax) == ["−10", "−1", "−0.5", "0", "0.5", "1"]
    ax.set_ylim(-3, 1.2)
    assert tick_labels(ax) == ["−2", "−1", "−0.5", "0", "0.5", "1"]
    plt.close(fig)


def test_a_margin_axis_clips_and_says_so():
    """Margins of −300%, −50% and +90% on an axis from −100% to +60%: drawn at −100%, −50% and +60%, the
    end ticks read ≤−100% and ≥+60%, and the two out-of-range months are marked."""
    fig, ax = plt.subplots()
    line = style.plot_clipped(ax, [0, 1, 2], [-3.0, -0.5, 0.9])
    style.margin_axis(ax)
    np.testing.assert_allclose(line.get_ydata(), [-1.0, -0.5, 0.6])
    labels = tick_labels(ax)
    assert labels[0] == "≤−100%" and labels[-1] == "≥+60%" and "0%" in labels
    assert len(ax.collections) == 2  # one ▼ mark below, one ▲ above
    plt.close(fig)


def test_month_axes_read_as_dates():
    """Month indices from 2026-01 read as years on their Januaries; a date axis reads as years."""
    fig, (a, b) = plt.subplots(1, 2)
    a.plot([0, 60], [0, 1])
    a.set_xlim(0, 60)
    style.months_axis(a, "2026-01")
    assert tick_labels(a, "x")[:3] == ["2026", "2027", "2028"]
    b.plot(pd.date_range("2026-01-01", periods=120, freq="MS"), np.arange(120))
    style.month_axis(b)
    assert "2030" in tick_labels(b, "x")
    plt.close(fig)


def test_the_fringe_is_drawn_smoothed_the_labs_as_they_are():
    fig, ax = plt.subplots()
    y = np.array([1.0, 3.0] * 6)
    lab = style.agent_line(ax, "openai", np.arange(12), y)
    fringe = style.agent_line(ax, "open_weights_fringe", np.arange(12), y)
    np.testing.assert_array_equal(lab.get_ydata(), y)
    assert np.ptp(fringe.get_ydata()[3:-3]) == 0.0  # a 6-month mean of a 2-month sawtooth is flat
    assert fringe.get_color() == style.colour("open_weights_fringe") and lab.get_color() == style.colour("openai")
    plt.close(fig)
