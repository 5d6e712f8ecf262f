"""Token-factory economics: throughput vs interactivity, service tiers, revenue-optimal Max-Q (issue 13).

``twin.economics.frontier``: the catalog's Pareto frontiers and the tiers as arrays; ``twin.economics.revenue``:
the revenue objective on top of Max-Q (``revenue_maxq``) and pricing of given caps (``price_caps``);
``twin.economics.site``: sizing a site of a rack mix and the generation-over-generation comparison.
"""

from twin.economics.frontier import accelerator_rates, frontier_tokens_per_s, tier_table
from twin.economics.revenue import price_caps, revenue_maxq

__all__ = ["accelerator_rates", "frontier_tokens_per_s", "price_caps", "revenue_maxq", "tier_table"]
