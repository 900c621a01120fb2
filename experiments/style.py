"""One look for every figure the project draws: the colour of each agent, and the formatters axes and tables share.

Every plot (run plots, comparisons, study figures, the cost view) and the dashboard take an agent's colour from
``colour``, so OpenAI is the same colour in ``per_watt.png``, a fan chart and the browser. Agents of the baseline
have fixed colours; any other id (a lab of a user's config) gets one of ``CYCLE`` by a stable hash of its name, the
same in every figure and every process.
"""

from __future__ import annotations

import zlib

#: the baseline's agents; colours of the Tableau 10 palette, the one matplotlib draws by default
AGENT_COLOURS: dict[str, str] = {
    "openai": "#1f77b4",
    "anthropic": "#ff7f0e",
    "gemini": "#2ca02c",
    "xai": "#d62728",
    "open_weights_fringe": "#7f7f7f",
    "meta": "#9467bd",
    "microsoft": "#17becf",
    "amazon": "#bcbd22",
    "google": "#8c564b",
    "neoclouds": "#e377c2",
    "unserved": "#d9d9d9",
}

#: colours for ids the baseline does not have (those of AGENT_COLOURS left out where they would clash)
CYCLE = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")


def colour(agent: str) -> str:
    """The colour of an agent, provider or segment row, the same in every figure.

    >>> colour("openai")
    '#1f77b4'
    >>> colour("my_lab") == colour("my_lab")
    True
    """
    return AGENT_COLOURS.get(agent) or CYCLE[zlib.crc32(agent.encode()) % len(CYCLE)]
