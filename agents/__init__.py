"""Mesa agents: a thin layer of decisions over the model's arrays.

Each agent owns a column (or a few) of the model's state arrays and makes its
decisions on whole arrays: along the scenario axis, and for segments along
the customer classes. Profiles (OpenAI, Anthropic, ...) come from the config,
not from subclasses per company.
"""

from wattyear.agents.demand import DemandSegment
from wattyear.agents.hyperscaler import Hyperscaler
from wattyear.agents.lab import FrontierLab
from wattyear.agents.open_weights import OpenWeightsFringe, OpenWeightsPublisher

__all__ = ["DemandSegment", "FrontierLab", "Hyperscaler", "OpenWeightsFringe", "OpenWeightsPublisher"]
