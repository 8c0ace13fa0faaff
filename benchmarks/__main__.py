"""`python -m benchmarks`: see bench.py."""

from .bench import main

raise SystemExit(main())
