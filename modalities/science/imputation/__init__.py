"""Filling the gaps of a field with a trained model: :func:`~.impute.impute` and
:func:`~.impute.calibrate` (ensembles over tiled windows, calibrated on known values held out
by :func:`~.calibration.held_out`), and the classical reference the demo reports beside it
(:mod:`.reference`)."""
