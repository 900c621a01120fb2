"""Tiny configs whose results can be worked out on paper."""

from __future__ import annotations

import copy

from wattyear.sim.config import resolve


def tiny_world(**changes) -> dict:
    """One lab (``solo``), one per-token segment, no fringe capacity, no randomness.

    Numbers are chosen to be exact in binary floating point where it matters:
    1 W-yr of hopper at 1 token/J gives 31,557,600 tokens a year, 2,629,800 a month.
    """
    raw = {
        "run": {"start": "2026-01", "months": 3, "seed": 1},
        "world": {"energy_usd_per_mwh": 100.0, "pue": 1.0, "site_opex_usd_per_w_year": 0.5,
                  "idle_power_fraction": 1.0,  # energy does not depend on load unless a test says so
                  "demand_forecast_sigma_per_year": 0.0},  # owners hold their forecast, no insurance above it
        "hardware": {"hopper": {"tokens_per_joule": 1.0, "capex_usd_per_w": 12.0, "life_years": 4.0}},
        "labs": {
            "solo": {
                "name": "Solo", "watts": 1000.0, "cash_usd": 1000.0, "overhead_usd_per_year": 0.0,
                "quality": 1.0, "max_training_share": 0.0, "generation_compute_multiple": 4.0,
                "last_run_compute_watt_years": 1e12, "quality_per_ln_compute": 0.0,
                "price_usd_per_mtok": {"api": 2.0}, "price_adjustment": 0.0,  # prices held
                "round_fraction": 1.0,  # raises are not bounded by valuation unless a test says so
                "runway_months": 0,  # raises only when cash would go negative
            },
        },
        "open_weights": {
            "watts": 0.0, "cash_usd": 0.0, "ad_revenue_usd_per_year": 0.0, "ad_margin": 0.0,
            "talent_cost_usd_per_year": 0.0, "quality_fraction": 0.5, "release_every_months": 1000,
            "next_release_month": 1000, "training_cost_usd": 0.0,
        },
        "fringe": {"watts": 0.0, "model_efficiency": 1.0, "rent_usd_per_w_year": 1.0, "entry_speed": 0.0},
        "segments": {
            "api": {
                "name": "API", "pricing": "per_token", "customers": 100.0, "max_customers": 100.0,
                "adoption_rate_per_year": 0.0, "tokens_per_customer_per_month": 1000.0,
                "usage_growth_per_year": 0.0, "beta_quality": 0.0, "beta_price": 0.0,
                "outside_utility": -60.0, "peak_to_average": 1.0,
            },
        },
    }
    for path, value in changes.items():
        node = raw
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return raw


def resolved(raw: dict) -> dict:
    return resolve(copy.deepcopy(raw), source="tiny")
