"""Reading labelled tables and deciding whether they are fit to train on.

People upload whatever their spreadsheet or script wrote, so reading is forgiving (format and
delimiter are sniffed, cp1252 is accepted) and checking is talkative: each problem becomes a
`Finding` with a plain sentence, counts and examples rather than an exception. `prepare` is the one
call the pages, the CLI and the trainer need; `validate` does the same for a table already in
memory, and `split` is the seeded, stratified split on its own. Cells are always read as strings,
and user text is never interpreted (HTML stays literal; escaping is render.py's job).
"""

from bertviz_lib.data.checks import IMBALANCE_RATIO, MIN_ROWS
from bertviz_lib.data.clean import MAX_ROWS, MAX_TEXT_CHARS
from bertviz_lib.data.columns import guess_columns
from bertviz_lib.data.findings import DataError, DataReport, Finding, Severity
from bertviz_lib.data.labelled import LabelledData, PreparedData, ProblemType, TokenCounter
from bertviz_lib.data.prepare import (
    labelled_for_evaluation,
    prepare,
    prepare_for_training,
    validate,
)
from bertviz_lib.data.read import MAX_UPLOAD_BYTES, read_table
from bertviz_lib.data.split import split

__all__ = [
    "IMBALANCE_RATIO",
    "MAX_ROWS",
    "MAX_TEXT_CHARS",
    "MAX_UPLOAD_BYTES",
    "MIN_ROWS",
    "DataError",
    "DataReport",
    "Finding",
    "LabelledData",
    "PreparedData",
    "ProblemType",
    "Severity",
    "TokenCounter",
    "guess_columns",
    "labelled_for_evaluation",
    "prepare",
    "prepare_for_training",
    "read_table",
    "split",
    "validate",
]
