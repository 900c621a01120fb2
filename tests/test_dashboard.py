"""The dashboard's model and numbers (``experiments.dashboard.model``), without a browser: each knob changes the
config path it names and nothing else, the page shows what ``wattyear run`` computes, references are the
runs they claim to be, and the knobs move the economics the way they should."""

import json

import numpy as np
import pandas as pd
import pytest

from wattyear.experiments.dashboard import model as d
from wattyear.experiments.results import metrics_frame
from wattyear.sim.config import ConfigError, load_config, resolve
from wattyear.sim.model import WattyearModel


@pytest.fixture(scope="module")
def base():
    return load_config(None)


def test_knobs_at_their_defaults_leave_the_config_as_loaded(base):
    assert d.dashboard_config(base) == base
    assert d.dashboard_config(base, **d.defaults(base)) == base
    lease = load_config("colossus_lease")
    assert d.defaults(lease)["colossus_lease"] is True
    assert d.dashboard_config(lease) == lease


def test_each_knob_sets_its_config_path_and_nothing_else(base):
    changed = d.dashboard_config(base, open_weights_quality=0.95, release_every_months=3, energy_usd_per_mwh=120.0,
                                 price_sensitivity=2.0, demand_growth=0.5, months=24, seed=7, power_anthropic=1.5)
    assert changed["open_weights"]["quality_fraction"] == 0.95
    assert changed["open_weights"]["release_every_months"] == 3
    assert changed["world"]["energy_usd_per_mwh"] == 120.0
    assert (changed["run"]["months"], changed["run"]["seed"]) == (24, 7)
    assert changed["labs"]["anthropic"]["power_secured_w_per_year"] == 1.5e9
    for sid, seg in changed["segments"].items():
        assert seg["beta_price"] == 2.0 * base["segments"][sid]["beta_price"]
        assert seg["usage_growth_per_year"] == 0.5 * base["segments"][sid]["usage_growth_per_year"]
    # everything else as loaded
    assert changed["labs"]["openai"] == base["labs"]["openai"]
    assert changed["leases"] == base["leases"] and changed["hardware"] == base["hardware"]


def test_the_colossus_switch_adds_and_removes_the_packaged_lease(base):
    on = d.dashboard_config(base, colossus_lease=True)
    added = [lease for lease in on["leases"] if (lease["lessor"], lease["lessee"]) == ("xai", "anthropic")]
    assert len(added) == 1 and added[0]["watts"] == 0.3e9 and added[0]["start"] == load_config(
        "colossus_lease")["leases"][-1]["start"]
    assert on["leases"][: len(base["leases"])] == base["leases"]
    off = d.dashboard_config(load_config("colossus_lease"), colossus_lease=False)
    assert off["leases"] == base["leases"]


def test_bad_knobs_are_refused_by_name(base):
    with pytest.raises(ConfigError) as err:
        d.dashboard_config(base, open_weights_qualty=0.9)
    assert "open_weights_qualty" in str(err.value) and "open_weights_quality" in str(err.value)
    with pytest.raises(ConfigError) as err:
        d.dashboard_config(base, energy_usd_per_mwh=-5.0)
    assert "energy_usd_per_mwh" in str(err.value)


def test_slider_ranges_stay_valid_at_both_ends(base):
    for knob in d.knobs_for(base):
        if knob.kind == "bool":
            continue
        for value in (knob.min, knob.max):
            d.dashboard_config(base, **{knob.name: int(value) if knob.kind == "int" else float(value)})


def test_the_page_shows_what_a_run_computes(base):
    model = d.DashboardModel(base, months=18, open_weights_quality=0.9)
    while model.running:
        model.step()
    model.step()  # past the horizon: nothing happens
    assert model.months_done == 18
    alone = WattyearModel(d.dashboard_config(base, months=18, open_weights_quality=0.9)).run()
    frame, s = metrics_frame(alone), d.series(model)
    for i, lab in enumerate(s.labs):
        rows = frame[frame.agent == lab]
        np.testing.assert_array_equal(s.lab["revenue_usd_per_mtok"][:, i], rows.revenue_usd_per_mtok.to_numpy())
        np.testing.assert_array_equal(s.lab["self_funding_ratio"][:, i], rows.self_funding_ratio.to_numpy())
    table = {r["lab"]: r for r in d.month_table(s, 11)}
    market = alone.history[11].market.price_usd_per_mtok[0]
    api = s.segments.index("api")
    for i, lab in enumerate(s.labs):
        assert table[lab]["price_api"] == market[api, i]
        assert table[lab]["owned_watts"] == alone.history[11].books.owned_watts[0, i] / 1e9


def test_the_reference_is_the_config_as_loaded_run_to_its_horizon(base):
    cfg = d.dashboard_config(base, months=12)
    seen = []
    ref = d.reference(cfg, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(t, 12) for t in range(1, 13)] and not ref.band
    alone = d.series(WattyearModel(cfg).run())
    for key in alone.lab:
        np.testing.assert_array_equal(ref.series.lab[key], alone.lab[key])
    assert d.reference(cfg, cancelled=lambda: True) is None


def _posterior(folder, fitted_on) -> None:
    draws = np.random.default_rng(0).uniform([60.0, 0.7], [95.0, 0.95], size=(30, 2))
    pd.DataFrame({"world.energy_usd_per_mwh": draws[:, 0], "open_weights.quality_fraction": draws[:, 1],
                  "weight": 1.0, "distance": 0.1}).to_parquet(folder / "posterior.parquet")
    _record(folder, fitted_on, {"world.energy_usd_per_mwh": [60.0, 95.0], "open_weights.quality_fraction": [0.7, 0.95]})


def _record(folder, fitted_on, priors) -> None:
    """posterior.json as ``wattyear calibrate --posterior`` writes it (the config's hash, the priors)."""
    import hashlib

    digest = hashlib.sha256(fitted_on.read_bytes()).hexdigest()
    (folder / "posterior.json").write_text(json.dumps({"config": str(fitted_on), "config_sha256": digest,
                                                       "priors": priors, "months": 3}))


def test_a_posterior_band_is_the_pages_config_with_the_posteriors_parameters(tmp_path, base):
    """Fitted on another world (the backtest's, a year earlier), the draws are laid over the page's config,
    on its calendar, a seed each from the page's seed; the band has width."""
    _posterior(tmp_path, d.find_config("backtest_2025"))
    cfg = d.dashboard_config(base, months=12, seed=5)
    ref = d.reference(cfg, posterior=tmp_path, draws=8)
    assert ref.band and tmp_path.name in ref.label
    assert ref.series.dates[0] == "2026-01" and ref.series.labs == list(base["labs"])
    rpt = ref.series.lab["revenue_usd_per_mtok"]
    assert rpt.shape == (3, 12, len(base["labs"])) and np.any(rpt[2] > rpt[0])
    from wattyear.experiments.calibration.posterior import draws

    # the band is the percentiles of the draws run one by one (an ensemble member is its run alone)
    alone = [d.series(WattyearModel(resolve(cfg, overrides=o), rng=5 + i).run()).lab["revenue_usd_per_mtok"]
             for i, o in enumerate(draws(tmp_path, 8)[1])]
    np.testing.assert_array_equal(rpt, np.percentile(np.stack(alone), [5, 50, 95], axis=0))


def test_a_posterior_that_does_not_fit_the_config_is_refused_by_name(tmp_path, base):
    pd.DataFrame({"labs.mistral.quality": [1.0], "weight": [1.0], "distance": [0.1]}).to_parquet(
        tmp_path / "posterior.parquet")
    _record(tmp_path, d.find_config(None), {"labs.mistral.quality": [0.5, 1.5]})
    with pytest.raises(ConfigError) as err:
        d.check_posterior(base, tmp_path)
    assert "mistral" in str(err.value) and "(posterior)" in str(err.value)
    (tmp_path / "posterior.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError) as err:
        d.check_posterior(base, tmp_path)
    assert "unreadable" in str(err.value)


def test_panels_drawn_while_another_thread_steps_are_consistent(base):
    """The page draws while Run to horizon (or Play) steps in another thread: each series must come from one
    snapshot of the history. A history that gains a month at every access stands in for that thread,
    deterministically."""
    model = d.DashboardModel(base, months=12)
    while model.running:
        model.step()

    class Growing(list):
        """A history another thread appends to between any two reads."""

        def __init__(self, items, pending):
            super().__init__(items)
            self.pending = list(pending)

        def _grow(self):
            if self.pending:
                self.append(self.pending.pop(0))

        def __getitem__(self, index):
            out = super().__getitem__(index)
            self._grow()
            return out

        def __iter__(self):
            self._grow()
            return super().__iter__()

    model.history = Growing(model.history[:6], model.history[6:])
    for _ in range(3):
        s = d.series(model)
        lengths = {len(s.months), len(s.dates), *(a.shape[0] for a in s.lab.values()),
                   *(a.shape[0] for a in s.market.values())}
        assert len(lengths) == 1, lengths


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_raising_open_weights_quality_lowers_closed_lab_prices(base, seed):
    """The direction the browser test checks on the page, over several seeds: better open weights take
    share at the bottom of the market, and closed labs answer with lower API prices within a year."""
    prices = []
    for q in (0.7, 1.0):
        model = d.DashboardModel(base, months=12, seed=seed, open_weights_quality=q)
        while model.running:
            model.step()
        prices.append({r["lab"]: r["price_api"] for r in d.month_table(d.series(model))})
    low, high = prices
    assert high["openai"] < low["openai"] and high["anthropic"] < low["anthropic"]


@pytest.mark.parametrize("argv, says", [
    (["dash", "no_such_config"], "no_such_config"),
    (["dash", "--posterior", "/no/such/folder"], "/no/such/folder: (posterior)"),
    (["dash", "--host", "no-such-host.invalid"], "check --host"),
])
def test_dash_refuses_bad_input_before_starting_a_server(argv, says, capsys):
    from wattyear.experiments.cli import main

    assert main(argv) == 2
    assert says in capsys.readouterr().err


def test_dash_refuses_a_port_in_use(capsys):
    import socket

    from wattyear.experiments.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dash", "--port", str(port)]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_dash_refuses_a_port_that_is_not_one(port, capsys):
    from wattyear.experiments.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["dash", "--port", port])
    assert exit_.value.code == 2 and "port number" in capsys.readouterr().err


def test_lab_lines_take_the_shared_palette_and_the_ratio_the_static_plots_axis(base):
    """The page draws each lab in ``experiments.style.colour``'s colour (as every PNG does), the comparison
    dashed in the same colour, and the self-funding ratio as ``plot_self_funding`` does: a symmetric log
    axis linear within ±1 whose ticks read as numbers, and a dashed black line at SFR = 1."""
    pytest.importorskip("solara")
    from wattyear.experiments.dashboard import app
    from wattyear.experiments.style import colour

    model = d.DashboardModel(base, months=12)
    while model.running:
        model.step()
    s = d.series(model)
    ref = d.reference(d.dashboard_config(base, months=12))
    ax = app.lab_metric_figure(model, s, ref, **app.SFR_PANEL).axes[0]
    assert ax.get_yscale() == "symlog" and ax.yaxis.get_transform().linthresh == 1.0
    ticks = ax.yaxis.get_major_formatter()
    assert [ticks(v) for v in (1.0, 0.5, 0.0, -1.0, -10.0)] == ["1", "0.5", "0", "−1", "−10"]  # not 10^0
    threshold = [line for line in ax.lines if list(line.get_ydata()) == [1.0, 1.0]]
    assert len(threshold) == 1
    assert threshold[0].get_linestyle() == "--" and threshold[0].get_color() == "k"
    drawn = {line.get_label(): line for line in ax.lines}
    for lab, name in zip(s.labs, s.lab_names):
        assert drawn[name].get_color() == colour(lab) and drawn[name].get_linestyle() == "-"
    dashed = [line for line in ax.lines if line.get_linestyle() == "--" and line not in threshold]
    assert sorted(line.get_color() for line in dashed) == sorted(colour(lab) for lab in s.labs)


def test_the_sidebar_holds_the_knobs_and_no_display_settings():
    """Reset builds the model from the config and every knob (nothing of Mesa's play or render settings),
    and each knob's value reads as the readout beside it shows it."""
    pytest.importorskip("solara")
    from wattyear.experiments.dashboard import app

    params = app.model_params()
    assert set(params) == {"config", *(k.name for k in d.knobs_for(app.CONFIG))}
    assert params["config"] is app.CONFIG and params["open_weights_quality"] == 0.85
    knob = {k.name: k for k in d.knobs_for(app.CONFIG)}
    assert app.knob_text(knob["energy_usd_per_mwh"], 77.5) == "77.5"
    assert app.knob_text(knob["power_gemini"], 2.0) == "2"
    assert app.knob_text(knob["colossus_lease"], False) == "off"


def test_the_printed_address_of_an_ipv6_host_is_a_url(monkeypatch, capsys):
    """`dash --host ::1` printed http://::1:PORT, which no browser opens; an IPv6 host is bracketed."""
    pytest.importorskip("solara")
    import socket

    import solara.__main__

    from wattyear.experiments.cli import main

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    monkeypatch.setattr(solara.__main__.cli, "main", lambda *a, **k: None)
    for name in ("WATTYEAR_DASH_CONFIG", "WATTYEAR_DASH_POSTERIOR", "SOLARA_TELEMETRY_MIXPANEL_ENABLE"):
        monkeypatch.delenv(name, raising=False)  # (the command sets them for the server: restored after)
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        port = probe.getsockname()[1]
    assert main(["dash", "--host", "::1", "--port", str(port)]) == 0
    assert f"at http://[::1]:{port} " in capsys.readouterr().out
