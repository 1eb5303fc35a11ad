"""Deal the instances of chosen mapped tasks over the Celery workers of the e2e deployment, round-robin.

Each worker consumes the ``default`` queue and a queue of its own, named after it. Left to Celery, a
handful of short mapped tasks can all land on one worker: whichever takes the first message may take the
rest before the other worker has fetched anything (seen: every mapped download on ``e2e-worker-1``). A
test that checks both workers took part would then be flaky. So the deployment writes an
``airflow_local_settings.py`` (``$AIRFLOW_HOME/config``) importing :func:`task_instance_mutation_hook`,
a cluster policy that the scheduler applies to every task instance it creates or expands: map index
``i`` of a task listed in ``SINCH_E2E_SPREAD_TASKS`` (``dag_id.task_id``, comma-separated) goes to the
queue ``SINCH_E2E_WORKER_QUEUES[i % len]``. Every other task stays on ``default``, shared by both.
"""

from __future__ import annotations

import os
from typing import Any


def _names(variable: str) -> list[str]:
    return [name for name in os.environ.get(variable, "").split(",") if name]


def queue_for(dag_id: str, task_id: str, map_index: int | None) -> str | None:
    """The worker queue of a mapped task instance, or ``None`` to leave its queue alone."""
    queues = _names("SINCH_E2E_WORKER_QUEUES")
    spread = f"{dag_id}.{task_id}" in _names("SINCH_E2E_SPREAD_TASKS")
    if not spread or not queues or map_index is None or map_index < 0:
        return None
    return queues[map_index % len(queues)]


def task_instance_mutation_hook(task_instance: Any) -> None:
    """Airflow's cluster policy: route the listed mapped tasks' instances to the workers in turn."""
    queue = queue_for(task_instance.dag_id, task_instance.task_id, task_instance.map_index)
    if queue is not None:
        task_instance.queue = queue
