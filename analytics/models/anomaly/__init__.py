"""Anomaly detection: detectors with one API (PyOD's), thresholds and calibration, attribution.

- :class:`~.process.PCAResidual`: PCA T² and SPE, the process-monitoring classic;
- :class:`~.adaptive.AdaptiveReference`: per-sensor deviation from a drift-following reference
  that freezes while alarmed (drift absorbed, faults held);
- :class:`~.multivariate.PyODDetector`: any PyOD detector by name; :class:`~.multivariate.Ensemble`;
- :mod:`.univariate`: per-sensor control charts: :class:`~.univariate.Shewhart` (Western Electric
  rules), :class:`~.univariate.EWMA`, :class:`~.univariate.CUSUM`, :class:`~.univariate.STLResidual`;
- :mod:`.thresholds`: quantile / contamination / fixed thresholds, calibrators, persistence.
"""

from analytics.models.anomaly.adaptive import AdaptiveReference
from analytics.models.anomaly.base import BaseDetector
from analytics.models.anomaly.calibrated import Calibrated
from analytics.models.anomaly.modes import ModeAware
from analytics.models.anomaly.multivariate import PYOD_MODELS, Ensemble, PyODDetector
from analytics.models.anomaly.process import PCAResidual
from analytics.models.anomaly.thresholds import (
    ContaminationThreshold,
    EmpiricalCalibrator,
    FixedThreshold,
    Persistence,
    QuantileThreshold,
    RobustZCalibrator,
)
from analytics.models.anomaly.univariate import CUSUM, EWMA, Shewhart, STLResidual

__all__ = [
    "CUSUM",
    "EWMA",
    "PYOD_MODELS",
    "AdaptiveReference",
    "BaseDetector",
    "Calibrated",
    "ContaminationThreshold",
    "EmpiricalCalibrator",
    "Ensemble",
    "FixedThreshold",
    "ModeAware",
    "PCAResidual",
    "Persistence",
    "PyODDetector",
    "QuantileThreshold",
    "RobustZCalibrator",
    "STLResidual",
    "Shewhart",
]
