"""`python -m bertviz_lib`: the command line (cli/)."""

import sys

from bertviz_lib.cli import main
from bertviz_lib.train import distributed

if __name__ == "__main__":
    code = main()
    if distributed.from_environment().several:
        distributed.leave(code)  # a torchrun rank skips freeing its process group
    sys.exit(code)
