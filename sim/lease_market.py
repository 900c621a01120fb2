"""The capacity market: GPU watts let by owners with spare capacity to labs that need it.

Pure numpy over arrays with any leading (scenario) axes. Asks and bids are
rows; ``merit_order_match`` pairs them in merit order (cheapest asks with the
highest bids) and returns the watts each pair trades. Price is pay-as-ask: a
lessee pays the rent its lessor asked.
"""

from __future__ import annotations

import numpy as np


def merit_order_match(bid_watts, bid_price, ask_watts, ask_price, *, same_party=None):
    """Watts traded between each bid and each ask, shape ``(..., I, J)``.

    Bids are sorted by price, highest first, and laid end to end along a
    quantity axis; asks likewise, cheapest first. Bid i and ask j trade the
    overlap of their intervals on that axis, if ask j's price is at most bid
    i's. Because the two curves are monotone, this is exactly the merit-order
    clearing: nothing trades beyond the quantity where the curves cross.
    ``same_party`` (bool, (I, J)) forbids a party trading with itself; the
    overlap it would have had is left untraded.

    Two owners ask 100 W at $10 and 100 W at $20; one lab bids for 150 W up to
    $15: it gets the 100 W at $10, and nothing at $20.

    >>> merit_order_match(np.array([150.0]), np.array([15.0]), np.array([100.0, 100.0]),
    ...                   np.array([10.0, 20.0])).tolist()
    [[100.0, 0.0]]
    """
    bid_watts, bid_price = np.asarray(bid_watts, float), np.asarray(bid_price, float)
    ask_watts, ask_price = np.asarray(ask_watts, float), np.asarray(ask_price, float)
    bid_order = np.argsort(-bid_price, axis=-1, kind="stable")
    ask_order = np.argsort(ask_price, axis=-1, kind="stable")
    bq = np.take_along_axis(bid_watts, bid_order, -1)
    bp = np.take_along_axis(bid_price, bid_order, -1)
    aq = np.take_along_axis(ask_watts, ask_order, -1)
    ap = np.take_along_axis(ask_price, ask_order, -1)
    b_hi = np.cumsum(bq, axis=-1)
    a_hi = np.cumsum(aq, axis=-1)
    b_lo, a_lo = b_hi - bq, a_hi - aq
    overlap = np.clip(np.minimum(b_hi[..., :, None], a_hi[..., None, :])
                      - np.maximum(b_lo[..., :, None], a_lo[..., None, :]), 0.0, None)
    sorted_trade = np.where(ap[..., None, :] <= bp[..., :, None], overlap, 0.0)
    # back to the callers' row order
    trade = np.zeros_like(sorted_trade)
    i_idx = bid_order[..., :, None]
    j_idx = ask_order[..., None, :]
    lead = np.indices(sorted_trade.shape)[:-2]
    trade[(*lead, np.broadcast_to(i_idx, sorted_trade.shape), np.broadcast_to(j_idx, sorted_trade.shape))] = (
        sorted_trade)
    if same_party is not None:
        trade = np.where(same_party, 0.0, trade)
    return trade


def shortfall_watts(rejected_tokens_month, tpwy, reachable_utilization):
    """Watts a lab would need to serve the tokens it turned away this month.

    A leased watt serves TPWY/12 · reachable utilisation tokens a month.

    >>> float(shortfall_watts(100.0, 1200.0, 0.5))
    2.0
    """
    per_watt = np.asarray(tpwy, float) / 12.0 * np.asarray(reachable_utilization, float)
    return np.divide(rejected_tokens_month, per_watt, out=np.zeros(np.broadcast(rejected_tokens_month,
                                                                                per_watt).shape),
                     where=per_watt > 0)


def willingness_to_pay(price_usd_per_token, tpwy, reachable_utilization):
    """What an extra watt-year earns a lab: price × tokens a watt serves in a year.

    >>> float(willingness_to_pay(2e-6, 5e6, 0.5))
    5.0
    """
    return np.asarray(price_usd_per_token, float) * np.asarray(tpwy, float) * np.asarray(reachable_utilization,
                                                                                          float)
