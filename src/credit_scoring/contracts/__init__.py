"""Declared contracts: the served model's input and output (:mod:`.model_io`)."""
