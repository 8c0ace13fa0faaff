"""What a run learned about its data, beyond its own scores: which training labels look wrong
(`cartography`, from the training dynamics), whether a simple model does as well (`baseline`),
and whether its probabilities can be taken at their word (`calibration`).

Each writes one file into the run folder (names in `runs/files.py`) and reads it back for the
Metrics page and the command line.
"""
