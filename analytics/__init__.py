"""Factory Data Hub analytics library.

Data flows one way: ingest -> lake -> features -> models -> solutions -> dashboards / reports.
Every stage is a plain function of (factory, time range, storage location).
"""

__version__ = "0.1.0"
