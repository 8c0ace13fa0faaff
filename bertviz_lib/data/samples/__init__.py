"""Sample data sets written by the project, shipped in the package, used as the defaults."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
SAMPLES = {
    "sentiment": FOLDER / "sentiment.csv",
    "support_tickets": FOLDER / "support_tickets.csv",
}
