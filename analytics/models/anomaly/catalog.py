"""Detectors by name: the one place the CLI, the evaluations and the monitor look them up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analytics.errors import HubError

DetectorFactory = Callable[[], Any]


def detector_factory(name: str) -> DetectorFactory:
    """Detectors by CLI name, with defaults fixed before looking at any test label:

    * ``adaptive``: :class:`AdaptiveReference` (its defaults: 10-row noise filter, reference
      memory = the training rows, threshold = the largest training score, alarms held 10 rows);
      causal, scores the test rows as the continuation of the training rows;
    * ``adaptive-rel``: :class:`AdaptiveReference` with ``relations=True`` (each sensor also as
      its residual from a ridge regression on the other sensors, ridge 0.1, residuals of the
      training rows cross-fitted over 4 time blocks) and ``validation=0.25`` (the threshold is
      at least the largest score a detector fitted on the first 3/4 of the training rows gives
      the last 1/4); see the caveat in :mod:`analytics.models.anomaly.adaptive`;
    * ``pca``: :class:`PCAResidual` (90 % variance, its own 99 % combined-index control limit);
    * ``ecod`` / ``iforest`` / other PyOD names (``copod``, ``hbos``, ...):
      :class:`PyODDetector`, threshold the 99 % quantile of the training rows' scores
      (IForest with ``random_state=0``);
    * ``ensemble``: :class:`Ensemble` (mean of rank-calibrated scores) of pca + ecod + iforest,
      threshold the 99 % quantile of the training rows' ensemble scores.
    """
    from analytics.models.anomaly import PYOD_MODELS, AdaptiveReference, Ensemble, PCAResidual, PyODDetector

    key = name.lower()
    pyod = {m.lower(): m for m in PYOD_MODELS}

    def pyod_detector(model: str) -> Any:
        params = {"random_state": 0} if model in {"IForest", "INNE"} else None
        return PyODDetector(model, params)

    if key == "pca":
        return PCAResidual
    if key == "adaptive":
        return AdaptiveReference
    if key == "adaptive-rel":
        return lambda: AdaptiveReference(relations=True, validation=0.25)
    if key == "ensemble":
        return lambda: Ensemble([PCAResidual(), pyod_detector("ECOD"), pyod_detector("IForest")])
    if key in pyod:
        return lambda: pyod_detector(pyod[key])
    raise HubError(f"unknown detector {name!r}; available: adaptive, adaptive-rel, pca, ensemble, {', '.join(sorted(pyod))}")
