"""Anomaly detection: detectors with one API (PyOD's), thresholds and calibration, attribution.

- :class:`~.process.PCAResidual`: PCA T² and SPE, the process-monitoring classic;
- :class:`~.multivariate.PyODDetector`: any PyOD detector by name; :class:`~.multivariate.Ensemble`;
- :mod:`.thresholds`: quantile / contamination / fixed thresholds, calibrators, persistence.
"""

from analytics.models.anomaly.base import BaseDetector
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

__all__ = [
    "PYOD_MODELS",
    "BaseDetector",
    "ContaminationThreshold",
    "EmpiricalCalibrator",
    "Ensemble",
    "FixedThreshold",
    "PCAResidual",
    "Persistence",
    "PyODDetector",
    "QuantileThreshold",
    "RobustZCalibrator",
]
