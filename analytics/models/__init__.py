"""Models of the hub: anomaly detection (:mod:`.anomaly`) and failure risk (later)."""
