"""What-ifs on the calibrated baseline whose direction the economics implies, over several seeds.

Each pair of runs shares a seed, and so its demand shocks and the outcomes of its
training runs (common random numbers): the difference is the what-if's.
"""

import functools

import numpy as np
import pytest

from sim.capital_market import crossing_step
from sim.config import load_config, resolve
from sim.model import WattyearModel

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3)
CLOSED_LABS = ("openai", "anthropic", "xai", "gemini")
BASE = load_config()


@functools.lru_cache(maxsize=None)
def run(months: int, seed: int, overrides: tuple = ()) -> WattyearModel:
    return WattyearModel(resolve(BASE, overrides={**dict(overrides), "run.months": months,
                                                  "run.seed": seed})).run()


def series(model, name, agent):
    """(months,) of one metric of one agent."""
    return np.array([m[name][0, model.by_id[agent].column] for m, _ in model.history])


def segment_series(model, name, segment, agent):
    k = [s.agent_id for s in model.segments].index(segment)
    return np.array([mk[name][0, k, model.by_id[agent].column] for _, mk in model.history])


@pytest.mark.parametrize("seed", SEEDS)
def test_better_open_weights_lower_closed_prices_revenue_and_self_funding(seed):
    """Open-weights quality 0.6 → 0.9 of the frontier: every closed lab charges less in the
    API and enterprise segments (after the first year of sticky prices), sells less there,
    and has a lower self-funding ratio over the decade; OpenAI, the lab that crosses the
    threshold within it, crosses no earlier."""
    low = run(120, seed, (("open_weights.quality_fraction", 0.6),))
    high = run(120, seed, (("open_weights.quality_fraction", 0.9),))
    for lab in CLOSED_LABS:
        for segment in ("api", "enterprise"):
            price = lambda m: segment_series(m, "price_usd_per_mtok", segment, lab)[12:].mean()  # noqa: E731
            spend = lambda m: segment_series(m, "spend_usd", segment, lab).sum()  # noqa: E731
            assert price(high) < price(low), (lab, segment)
            assert spend(high) < spend(low), (lab, segment)
        sfr = lambda m: series(m, "self_funding_ratio", lab).mean()  # noqa: E731
        assert sfr(high) < sfr(low), lab
    cross = lambda m: crossing_step(series(m, "self_funding_ratio", "openai"))  # noqa: E731
    assert cross(low) is not None and (cross(high) is None or cross(high) >= cross(low))


@pytest.mark.parametrize("seed", SEEDS)
def test_rivals_price_cut_lowers_a_labs_price(seed):
    """OpenAI and Gemini start their enterprise and API list prices at a quarter: Anthropic,
    best-responding, charges less in both segments over the first year."""
    cut = tuple((f"labs.{lab}.price_usd_per_mtok.{seg}", value) for lab, seg, value in (
        ("openai", "enterprise", 0.75), ("openai", "api", 0.75), ("gemini", "enterprise", 1.0),
        ("gemini", "api", 0.75)))
    base, after = run(12, seed), run(12, seed, cut)
    for segment in ("enterprise", "api"):
        price = lambda m: segment_series(m, "price_usd_per_mtok", segment, "anthropic")[1:].mean()  # noqa: E731
        assert price(after) < price(base), segment


@pytest.mark.parametrize("seed", SEEDS)
def test_more_free_users_lower_openais_revenue_per_token(seed):
    """1.5× the free consumers: OpenAI serves them (free tiers are always planned for), so
    its blended price falls and its revenue per token of capacity falls with it."""
    base, more = run(120, seed), run(120, seed, (("segments.consumer_free.customers", 2.4e9),))
    for name in ("revenue_per_token", "blended_price_usd_per_mtok"):
        assert series(more, name, "openai").mean() < series(base, name, "openai").mean(), name


@pytest.mark.parametrize("seed", SEEDS)
def test_more_anthropic_watts_lower_its_rate_limiting_and_raise_its_revenue(seed):
    base = run(24, seed)
    more = run(24, seed, (("labs.anthropic.watts", 1e9), ("labs.anthropic.hardware", "blackwell")))
    assert series(more, "rate_limited_share", "anthropic").mean() < series(base, "rate_limited_share",
                                                                            "anthropic").mean()
    assert series(more, "revenue_usd", "anthropic").sum() > series(base, "revenue_usd", "anthropic").sum()


@pytest.mark.parametrize("seed", SEEDS)
def test_no_colossus_lease_costs_anthropic_and_leaves_xai_poorer(seed):
    """xAI offers no idle watts: Anthropic is no less rate-limited, rents the watts it needs
    from dearer clouds (more rent, less operating profit), and xAI earns less."""
    base, closed = run(24, seed), run(24, seed, (("labs.xai.idle_offered", 0.0),))
    total = lambda m, name, agent: series(m, name, agent).sum()  # noqa: E731
    assert (series(closed, "rate_limited_share", "anthropic").mean()
            >= series(base, "rate_limited_share", "anthropic").mean())
    assert total(closed, "rent_paid_usd", "anthropic") > total(base, "rent_paid_usd", "anthropic")
    assert total(closed, "operating_profit_usd", "anthropic") < total(base, "operating_profit_usd", "anthropic")
    assert total(base, "lease_income_usd", "xai") > 0 == total(closed, "lease_income_usd", "xai")
    assert total(closed, "revenue_usd", "xai") < total(base, "revenue_usd", "xai")


def test_capacity_market_relieves_anthropic_and_pays_xai():
    """Against a world where nobody offers watts (labs keep their idle watts; clouds rent all
    theirs to other customers): Anthropic is rate-limited less and xAI earns lease income."""
    nobody = tuple([*((f"labs.{lab}.idle_offered", 0.0) for lab in CLOSED_LABS),
                    *((f"hyperscalers.{h}.third_party_utilization", 1.0)
                      for h in ("microsoft", "amazon", "google", "neoclouds"))])
    with_market, without = run(12, 4), run(12, 4, nobody)
    assert (series(with_market, "rate_limited_share", "anthropic")[3:].mean()
            < series(without, "rate_limited_share", "anthropic")[3:].mean())
    assert series(with_market, "lease_income_usd", "xai").sum() > 0 == series(without, "lease_income_usd",
                                                                               "xai").sum()


@pytest.mark.parametrize("seed", SEEDS)
def test_dearer_energy_raises_every_providers_cost_per_watt_year(seed):
    """Energy at $155/MWh instead of $77.5: owners and renters alike (they pay the energy of
    the watts they operate) and the open-weights fringe see a higher cost per watt-year."""
    base, dear = run(1, seed), run(1, seed, (("world.energy_usd_per_mwh", 155.0),))
    for agent in (*CLOSED_LABS, "open_weights_fringe"):
        assert series(dear, "cost_per_watt_year", agent)[0] > series(base, "cost_per_watt_year", agent)[0], agent


@pytest.mark.parametrize("seed", SEEDS)
def test_a_lab_that_cannot_raise_shrinks_instead_of_borrowing(seed):
    """xAI's investors put in nothing: it raises nothing, never holds negative cash (it has
    no debt to hide it in), and owns fewer watts than in the baseline — it stops its builds
    when its cash runs short (or fails)."""
    base, starved = run(60, seed), run(60, seed, (("labs.xai.round_fraction", 0.0),))
    assert series(starved, "raised_usd", "xai").sum() == 0.0
    assert series(starved, "cash_usd", "xai").min() >= 0.0
    assert series(starved, "debt_usd", "xai").max() == 0.0
    assert series(starved, "owned_watts", "xai").mean() < series(base, "owned_watts", "xai").mean()
