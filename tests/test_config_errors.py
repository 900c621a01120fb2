"""Bad input gets one clear message per problem: file, key, expected, found."""

import tomllib

import numpy as np
import pytest

from wattyear.experiments.cli import main
from wattyear.sim.config import BASELINE, ConfigError, load_config


def write(tmp_path, text, name="bad.toml"):
    raw = BASELINE.read_text() + "\n" + text
    path = tmp_path / name
    path.write_text(raw)
    return path


def baseline_with(tmp_path, edit):
    raw = tomllib.loads(BASELINE.read_text())
    edit(raw)
    import tomli_w

    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def problems(path, **kw):
    with pytest.raises(ConfigError) as info:
        load_config(path, **kw)
    return info.value.problems


def test_negative_watts(tmp_path):
    path = baseline_with(tmp_path, lambda r: r["labs"]["xai"].update(watts=-5.0))
    [p] = problems(path)
    assert (p.source, p.key, p.found) == (str(path), "labs.xai.watts", -5.0)
    assert "≥ 0" in p.expected
    assert str(p) == f"{path}: labs.xai.watts: expected a number ≥ 0 and ≤ 1e+12, found -5.0"


def test_unknown_key_names_the_valid_ones(tmp_path):
    path = baseline_with(tmp_path, lambda r: r["labs"]["anthropic"].update(wats=1.0))
    [p] = problems(path)
    assert p.key == "labs.anthropic.wats" and "watts" in p.expected


def test_wrong_type_missing_key_and_bad_reference_are_all_reported(tmp_path):
    def edit(r):
        r["segments"]["api"]["beta_price"] = "high"
        del r["labs"]["openai"]["cash_usd"]
        r["leases"][0]["lessor"] = "oracle"
    keys = {p.key for p in problems(baseline_with(tmp_path, edit))}
    assert {"segments.api.beta_price", "labs.openai.cash_usd"} <= keys


def test_references_checked_after_types(tmp_path):
    path = baseline_with(tmp_path, lambda r: r["leases"][0].update(lessor="oracle"))
    [p] = problems(path)
    assert p.key == "leases.0.lessor" and p.found == "oracle" and "microsoft" in p.expected


def test_lease_larger_than_the_lessor_owns(tmp_path):
    path = baseline_with(tmp_path, lambda r: r["leases"][0].update(watts=9e9))
    [p] = problems(path)
    assert p.key == "leases.0.watts" and "microsoft owns" in p.expected


def test_set_of_unknown_path_and_bad_value():
    with pytest.raises(ConfigError) as info:
        load_config(overrides={"labs.anthropic.wats": 1.0})
    assert info.value.problems[0].source == "--set"
    with pytest.raises(ConfigError) as info:
        load_config(overrides={"labs.anthropc.watts": 1.0})
    assert "anthropic" in info.value.problems[0].expected
    with pytest.raises(ConfigError) as info:
        load_config(overrides={"labs.anthropic.watts": -1.0})
    assert (info.value.problems[0].source, info.value.problems[0].key) == ("--set", "labs.anthropic.watts")


def test_toml_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[run\nmonths = 3")
    [p] = problems(path)
    assert p.key == "(syntax)"
    [p] = problems(tmp_path / "nope.toml")
    assert p.found == "no such file"


def test_cli_exits_2_with_message_and_no_traceback(tmp_path, capsys):
    path = baseline_with(tmp_path, lambda r: r["labs"]["xai"].update(watts=-5.0))
    code = main(["run", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "labs.xai.watts: expected a number ≥ 0 and ≤ 1e+12, found -5.0" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written for a config that never ran
    code = main(["run", "--set", "labs.anthropic.watts=-2e9", "--months", "2", "--out", str(tmp_path / "o2")])
    assert code == 2
    assert "--set: labs.anthropic.watts: expected a number ≥ 0 and ≤ 1e+12, found -2000000000.0" in capsys.readouterr().err


def test_cli_bad_numbers_and_unwritable_output(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--months", "0"])
    assert info.value.code == 2 and "expected a whole number of at least 1, found '0'" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--months", "1", "--no-plots", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


def test_ids_must_be_unique_and_not_reserved(tmp_path):
    def edit(r):
        r["hyperscalers"]["xai"] = dict(r["hyperscalers"]["amazon"])
        r["labs"]["meta"] = dict(r["labs"]["xai"])
    keys = {p.key for p in problems(baseline_with(tmp_path, edit))}
    assert {"hyperscalers.xai", "labs.meta"} <= keys


def test_a_segment_fed_by_conversions_is_checked(tmp_path):
    """converts_from names a free segment; such a segment does not also adopt by a logistic curve; a
    conversion or churn rate without converts_from would be silently ignored, so it is refused."""
    def edit(raw):
        raw["segments"]["consumer_paid"].update(converts_from="enterprise", adoption_rate_per_year=0.4)
        raw["segments"]["enterprise"]["churn_per_year"] = 0.1
    found = {(p.key, p.found) for p in problems(baseline_with(tmp_path, edit))}
    assert found == {("segments.consumer_paid.converts_from", "enterprise"),
                     ("segments.consumer_paid.adoption_rate_per_year", 0.4),
                     ("segments.enterprise.churn_per_year", 0.1)}


def test_a_plan_segment_has_no_price_elasticity(tmp_path):
    """A plan's fee buys the plan: an elasticity of use to the fee would be ignored, so it is refused."""
    path = baseline_with(tmp_path, lambda r: r["segments"]["consumer_paid"].update(price_elasticity=0.5))
    [p] = problems(path)
    assert (p.key, p.found) == ("segments.consumer_paid.price_elasticity", 0.5)
    assert "sold by the month" in p.expected


def test_a_parent_company_is_checked(tmp_path):
    """A lab a hyperscaler owns has no parent company besides; a parent's money with no parent named would be
    silently ignored, so it is refused."""
    def edit(raw):
        raw["labs"]["gemini"]["parent"] = "Alphabet"
        raw["labs"]["anthropic"]["parent_funding_share"] = 0.3
    found = {(p.key, p.found) for p in problems(baseline_with(tmp_path, edit))}
    assert found == {("labs.gemini.parent", "Alphabet"), ("labs.anthropic.parent_funding_share", 0.3)}


def test_a_parents_ipo_before_it_owns_the_lab_is_refused(tmp_path):
    """IPO money set aside before the takeover would be silently lost."""
    path = baseline_with(tmp_path, lambda r: r["labs"]["xai"].update(parent_ipo_month="2026-01"))
    [p] = problems(path)
    assert (p.key, p.found) == ("labs.xai.parent_ipo_month", "2026-01")


@pytest.mark.parametrize("where, typo, meant", [
    ("--set", "world.energy_usd_per_mhw=50", "world.energy_usd_per_mwh"),
    ("--set", "labs.antrhopic.watts=1e9", "anthropic"),
    ("file", "energy_usd_per_mhw = 50", "energy_usd_per_mwh"),
])
def test_a_misspelt_key_or_id_gets_a_did_you_mean(tmp_path, capsys, where, typo, meant):
    """A near miss names what was meant; a key nothing resembles gets no guess."""
    if where == "--set":
        assert main(["run", "--set", typo, "--out", str(tmp_path / "o"), "--no-plots"]) == 2
    else:
        path = tmp_path / "typo.toml"
        path.write_text(f'extends = "baseline.toml"\n[world]\n{typo}\n')
        assert main(["run", str(path), "--out", str(tmp_path / "o"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"(did you mean {meant}?)" in err
    assert main(["run", "--set", "world.qqqqqq=1", "--out", str(tmp_path / "o"), "--no-plots"]) == 2
    assert "did you mean" not in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written for a mistake


def test_a_plain_dict_given_to_the_model_is_checked_like_a_file():
    """WattyearModel(dict) — the path direct API use and mesa.batch_run take — validates a dict that did not
    come from resolve(): negative customers are refused, not run into negative tokens and revenue. A resolved
    config (and one with overrides applied by with_overrides) is trusted and not checked again."""
    import copy

    from wattyear.sim.config import ResolvedConfig, with_overrides
    from wattyear.sim.model import WattyearModel

    cfg = load_config(overrides={"run.months": 2})
    assert isinstance(cfg, ResolvedConfig) and isinstance(copy.deepcopy(cfg), ResolvedConfig)
    assert isinstance(with_overrides(cfg, {"open_weights.quality_fraction": 0.8}), ResolvedConfig)
    raw = copy.deepcopy(dict(cfg))
    raw["segments"] = {k: dict(v) for k, v in raw["segments"].items()}
    raw["segments"]["api"]["customers"] = -5.0
    with pytest.raises(ConfigError) as info:
        WattyearModel(raw)
    assert "segments.api.customers" in str(info.value) and "<dict>" in str(info.value)
    with pytest.raises(ConfigError):
        WattyearModel([raw, raw], seeds=[1, 2])
    WattyearModel(dict(cfg)).run()  # a plain copy of a valid config passes the check and runs


@pytest.mark.parametrize("path, value", [("hyperscalers.microsoft.rent_cost_of_capital", -0.5),
                                         ("labs.openai.long_run_training_share", -0.2)])
def test_a_not_set_value_is_exactly_its_marker(path, value):
    """−1 means "not set" for these two; any other negative is a mistake, not another way of saying it (it
    used to be read as not set), and the message says both what is allowed and what −1 means. −1 itself and a
    value in range load."""
    with pytest.raises(ConfigError) as info:
        load_config(overrides={path: value})
    assert f"{path}: expected -1 (not set) or a number ≥ 0 and ≤ " in str(info.value), str(info.value)
    for fine in (-1.0, 0.3):
        assert load_config(overrides={path: fine})


def test_overhead_of_a_business_started_within_the_year_grows_at_its_rate():
    """A lab with no revenue a year ago and revenue now grows its overhead at its rate (before, it was held
    flat, as for a lab with no business at all); with no revenue now either it is held."""
    from wattyear.sim import kernel

    ratio = kernel.revenue_ratio_year(np.array([5e9, 0.0]), np.array([0.0, 0.0]))
    grown = kernel.overhead_next_month(10e9, 0.2, ratio)
    assert grown.tolist() == pytest.approx([10e9 * 1.2 ** (1 / 12), 10e9], rel=1e-12)


@pytest.mark.parametrize("argv, kind", [
    (["run", "--set", "labs.openai.watts=-5"], "invalid --set value"),
    (["run", "no_such_config"], "input not found"),
    (["validate", "no_such_table"], "input not found"),
    (["compare", "a", "b"], "input not found"),
])
def test_an_error_says_what_failed_in_its_first_line(argv, kind, capsys, tmp_path, monkeypatch):
    """Every config error used to open with 'invalid configuration'; the first line now says what failed."""
    from wattyear.experiments.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) != 0
    assert capsys.readouterr().err.splitlines()[0] == f"wattyear: {kind}:"


def test_a_5000_digit_set_value_is_one_short_line(capsys):
    """--set run.months=<5,000 nines> ended in Python's int-conversion traceback; now a refusal whose found
    value is cut to its first 120 characters, with its length."""
    assert main(["run", "--set", "run.months=" + "9" * 5000]) == 2
    err = capsys.readouterr().err
    assert "run.months: expected an integer" in err and "(5,002 characters, the first 120 shown)" in err
    assert max(len(line) for line in err.splitlines()) < 300


def test_an_override_into_a_files_non_table_blames_the_file(tmp_path, capsys):
    """run = [1, 2] in a file, then --months 3: the message blamed --set ('invalid --set value'); the mistake
    is the file's, and the message is the one the file alone gets."""
    path = tmp_path / "runlist.toml"
    path.write_text('extends = "baseline"\nrun = [1, 2]\n')
    assert main(["run", str(path), "--months", "3"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "wattyear: invalid configuration:" and err[1].endswith("runlist.toml: run: expected a table, found [1, 2]")
