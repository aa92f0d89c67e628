"""Supervised failure models: remaining useful life (:mod:`.rul`); failure risk and survival later."""
