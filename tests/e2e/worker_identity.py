"""Give each Celery worker of the e2e deployment a hostname of its own.

Both workers run on one machine, so Airflow's default hostname (the FQDN) would be the same for both
and the task instances could not tell which worker ran them. The workers' environment points
``[core] hostname_callable`` at :func:`hostname`, and sets ``SINCH_E2E_HOSTNAME`` differently for each.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``SINCH_E2E_HOSTNAME`` if set, else the machine's fully qualified name (Airflow's default)."""
    return os.environ.get("SINCH_E2E_HOSTNAME") or socket.getfqdn()
