"""Machine-health features over the lake: window statistics, operating state, context, labels.

Entry points: :func:`build_features` (compute and store, incrementally), :class:`FeatureStore`
(read stored features, factory-scoped) and the declared feature sets in :mod:`.featureset`.
"""

from analytics.features.build import FeatureRun, build_features, fit_state_rules, stale_dates
from analytics.features.featureset import FEATURE_SETS, MACHINE_HEALTH, Feature, FeatureSet
from analytics.features.store import FeatureStore

__all__ = ["FEATURE_SETS", "MACHINE_HEALTH", "Feature", "FeatureRun", "FeatureSet", "FeatureStore", "build_features", "fit_state_rules", "stale_dates"]
