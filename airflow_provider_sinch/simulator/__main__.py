"""``python -m airflow_provider_sinch.simulator``: same as ``sinch-fax-simulator``."""

from __future__ import annotations

import sys

from airflow_provider_sinch.simulator.cli import main

sys.exit(main())
