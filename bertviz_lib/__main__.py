"""`python -m bertviz_lib`: the command line (cli/)."""

from bertviz_lib.cli import run

if __name__ == "__main__":
    run("python -m bertviz_lib")
