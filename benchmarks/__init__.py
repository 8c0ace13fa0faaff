"""Benchmarks of this project against the tools people would otherwise use, run by hand on the
machine being measured (`python -m benchmarks --help`). The app and the CLI never import them:
they need HF Trainer's accelerate, a development dependency."""
