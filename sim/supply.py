"""The supply side of a month, as plain functions of the ``World`` and the books: vintages added to
the fleet, replacements of retiring vintages, lease roll-overs, and each agent's watts and tokens
capacity (``SupplyMonth``). Who orders what, and why, is the agents' (``agents.builder``); this
module only books it."""

from __future__ import annotations

import numpy as np

from wattyear.sim import kernel
from wattyear.sim.fleet import REPLACEMENT_LEAD_MONTHS, Fleet, LeaseBook
from wattyear.sim.records import BuildOrder, NewLease, SupplyMonth
from wattyear.sim.units import month_index
from wattyear.sim.world import World

#: the starting build programme (``pipeline_w_per_year``) keeps ordering through the first year: the
#: capex guidance it stands for is for the year's orders, not only for builds already under way
PIPELINE_LAST_ORDER = 11

#: operated watts below this are rounding errors of a lessor that let everything it owns, and count as none
MICROWATT = 1e-6
#: ... as are operated watts below this share of all an agent owns (one ulp of 15 GW is 2e-6 W: 1e-12 of it, 0.015 W, is
#: well above rounding; 1e-9 zeroed real watts: 643 W unlet of 1.26 TW broke the watts identity)
ROUNDING_SHARE = 1e-12


def add_vintage(world: World, fleet: Fleet, column: int, hardware: str, watts, start_step: int,
                order_step: int | None = None, replacement: bool = False) -> int:
    """Book a vintage of ``hardware`` owned by ``column``, in service from ``start_step`` (paid from
    ``order_step`` to then; a vintage with no order step is sunk)."""
    hw = world.hardware[hardware]
    return fleet.add(column, world.hardware.index(hardware), watts, start_step, hw["life_years"] * 12,
                     hw["capex_usd_per_w"], order_step=order_step, replacement=replacement)


def book_build(world: World, fleet: Fleet, order: BuildOrder) -> int:
    """A cluster ordered: paid over its lead, in service after it."""
    return add_vintage(world, fleet, order.owner, order.hardware, order.watts, order.order_step + order.lead_months,
                       order_step=order.order_step)


def book_lease(leases: LeaseBook, lease: NewLease) -> int:
    """A lease signed."""
    return leases.add(lease.lessor, lease.lessee, lease.watts, lease.start_step, lease.months,
                      lease.price_usd_per_w_year, lease.note, renew=lease.renew)


def starting_books(world: World) -> tuple[Fleet, LeaseBook]:
    """The fleets as configured (starting cohorts, planned vintages, the build programmes under way:
    orders month by month through ``PIPELINE_LAST_ORDER``) and the leases and take-or-pay commitments
    signed (a commitment's lessor builds to suit; the lessee pays from the start)."""
    cfg, s = world.config, world.n_scenarios
    n_hw, n_agents = len(world.hardware.ids), world.n_agents
    fleet = Fleet(n_hw, n_agents, watts=np.zeros((s, 0)))
    profiles = world.profiles()
    owners = [*range(world.n_labs), *(world.column(h) for h in world.hyperscaler_ids), world.publisher_column]
    age = cfg["world"]["starting_fleet_age_months"]
    for c in owners:
        p = profiles[c]
        for watts, begins in kernel.starting_cohorts(p["watts"], age):
            add_vintage(world, fleet, c, p["hardware"], watts, begins)
        for v in p.get("fleet", []):  # planned vintages are paid over the owner's build lead time
            begins = month_index(v["in_service"], world.start)
            add_vintage(world, fleet, c, v["hardware"], v["watts"], begins,
                        order_step=begins - p["build_lead_months"] if begins > 0 else None)
    for c in owners[:-1]:  # the labs' and hyperscalers' build programmes under way
        p = profiles[c]
        lead, rate = p["build_lead_months"], p["pipeline_w_per_year"]
        if np.any(rate > 0):  # rows of no watts where a scenario has none: they add exactly nothing
            hardware = world.hardware.newest(world.hardware.family(p["hardware"]), 0)
            for order in range(1 - lead, PIPELINE_LAST_ORDER + 1):
                add_vintage(world, fleet, c, hardware, rate / 12, order + lead, order_step=order)
    leases = LeaseBook(n_hw, n_agents, watts=np.zeros((s, 0)), price_usd_per_w_year=np.zeros((s, 0)))
    for lease in cfg["leases"]:
        leases.add(world.column(lease["lessor"]), world.column(lease["lessee"]), lease["watts"],
                   month_index(lease["start"], world.start), lease["months"], lease["price_usd_per_w_year"],
                   lease["note"], renew=lease["renew"])
    for deal in cfg["commitments"]:
        lessor, begins = world.column(deal["lessor"]), month_index(deal["start"], world.start)
        p = profiles[lessor]
        lead = p["build_lead_months"]
        hardware = world.hardware.newest(world.hardware.family(p["hardware"]), max(begins - lead, 0))
        add_vintage(world, fleet, lessor, hardware, deal["watts"], begins, order_step=begins - lead)
        leases.add(lessor, world.column(deal["lessee"]), deal["watts"], begins, deal["months"],
                   deal["price_usd_per_w_year"], deal["note"] or "commitment", renew=True)
    return fleet, leases


def replace_retiring(world: World, fleet: Fleet, t: int, keep=None) -> None:
    """Order replacements of the vintages retiring a replacement lead from now (at the start, of those
    retiring within the first year too), of the newest hardware of their family, in service the
    month their vintage retires; their capex is spread over the months to then.

    ``keep(retire_step)`` gives the (S, A) share of the watts retiring then each owner replaces (its
    plan's need); None: all of them."""
    if not world.config["world"]["replace_retiring"]:
        return
    lead = REPLACEMENT_LEAD_MONTHS
    rows = fleet.retiring(t + lead)
    if t == 0:  # vintages retiring within the first year are replaced on time too
        rows = np.concatenate([fleet.retiring(k) for k in range(0, lead + 1)])
    shares: dict[int, np.ndarray] = {}
    for row in rows:
        retires = int(fleet.end_step[row])
        owner = int(fleet.owner[row])
        watts = fleet.watts[:, row]
        if keep is not None:
            if retires not in shares:
                shares[retires] = keep(retires)
            watts = watts * shares[retires][:, owner]
        family = world.hardware.family(world.hardware.ids[fleet.hardware[row]])
        add_vintage(world, fleet, owner, world.hardware.newest(family, t), watts,
                    retires, order_step=min(t, retires - 1), replacement=True)


def fringe_rent_usd_per_w_year(world: World, mix: np.ndarray) -> np.ndarray:
    """(S,) rent of a watt to the fringe with its watts spread over the hardware as ``mix`` (S, H): the
    configured rent of its starting hardware, scaled by the capital cost (depreciation and site opex) of
    the mix over that hardware's (rent follows the generation: a newer watt costs more to buy and rent)."""
    capital = world.capital_cost_usd_per_w_year
    start = capital[:, world.fringe_hardware]
    return world.config["fringe"]["rent_usd_per_w_year"] * (mix * capital).sum(axis=1) / start


def supply_month(world: World, fleet: Fleet, leases: LeaseBook, fringe_watts: np.ndarray, fringe_mix: np.ndarray,
                 serving_multiplier: np.ndarray, t: int, training_share=None) -> SupplyMonth:
    """Watts and tokens capacity of every agent in month ``t``; the fringe's ``fringe_watts`` (S,) are
    spread over the hardware as ``fringe_mix`` (S, H).

    ``training_share(operated)`` gives each lab's share of its operated watts on training, (S, A),
    from the (S, H, A) watts it operates (the labs' training plans); None: no training (at the start,
    for the fringe's first price)."""
    owned = fleet.owned_watts(t)
    flows = leases.flows(t, owned)
    # a lessor that lets all it owns can come out a rounding error off zero: below a microwatt is none
    operated = owned - flows.leased_out + flows.leased_in
    floor = np.maximum(MICROWATT, ROUNDING_SHARE * owned.sum(axis=1, keepdims=True))
    operated = np.where(operated > floor, operated, 0.0)
    operated[:, :, world.fringe_column] += fringe_watts[:, None] * fringe_mix
    capacity_year = kernel.tokens_capacity_per_year(operated, world.tokens_per_joule[:, :, None],
                                                    world.model_efficiency, serving_multiplier[:, None])
    watts = operated.sum(axis=1)
    training = np.zeros(watts.shape) if training_share is None else training_share(operated)
    return SupplyMonth(owned=owned, leased_out=flows.leased_out, leased_in=flows.leased_in, operated=operated,
                       rent_paid_usd_per_year=flows.rent_paid_usd_per_year,
                       rent_received_usd_per_year=flows.rent_received_usd_per_year,
                       watts=watts, capacity_year=capacity_year, training_share=training,
                       tpwy=kernel.tokens_per_watt_year(capacity_year, watts))
