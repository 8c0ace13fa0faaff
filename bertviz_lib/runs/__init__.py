"""The run folder, the contract between the trainer and everything else (see DESIGN.md).

`store` names, lists, reads and writes run folders; `training_run` is the training process's side
of it, `launcher` the queue and the worker that trains what is queued, `model_card` the README
written into each run. What most callers need is named here.
"""

from bertviz_lib.runs.store import (
    FINISHED,
    STALE_AFTER_SECONDS,
    STATES,
    Run,
    RunError,
    RunWriter,
    create_run,
    delete_run,
    list_runs,
    load_run,
    new_run_id,
    process_start_time,
    run_root,
    slug,
    validate_run_id,
)

__all__ = [
    "FINISHED",
    "STALE_AFTER_SECONDS",
    "STATES",
    "Run",
    "RunError",
    "RunWriter",
    "create_run",
    "delete_run",
    "list_runs",
    "load_run",
    "new_run_id",
    "process_start_time",
    "run_root",
    "slug",
    "validate_run_id",
]
