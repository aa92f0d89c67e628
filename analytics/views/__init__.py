"""What dashboards and reports show: factory-scoped read models."""

from analytics.views.downsample import lttb, m4
from analytics.views.fleet import TILE_SCHEMA, FleetOverview, fleet_overview
from analytics.views.machine import SERIES_SCHEMA, MachineDetail, machine_detail
from analytics.views.reliability import RELIABILITY_SCHEMA, monthly_reliability, reliability

__all__ = [
    "RELIABILITY_SCHEMA",
    "SERIES_SCHEMA",
    "TILE_SCHEMA",
    "FleetOverview",
    "MachineDetail",
    "fleet_overview",
    "lttb",
    "m4",
    "machine_detail",
    "monthly_reliability",
    "reliability",
]
