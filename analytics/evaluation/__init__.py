"""Evaluation of analytics against public benchmarks (e.g. NAB, :mod:`analytics.evaluation.nab`)."""
