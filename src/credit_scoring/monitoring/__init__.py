"""Watching a deployed model: the prediction log, stability (PSI/CSI) and drift reports."""
