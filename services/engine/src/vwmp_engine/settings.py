"""Engine settings (environment variables with the VWMP_ prefix)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from vwmp_common.settings import ServiceSettings


class EngineSettings(ServiceSettings):
    """What one engine replica needs to know."""

    engine_id: str = Field(f"{socket.gethostname()}-{os.getpid()}",
                           description="Lease owner name of this replica; unique per replica")
    engine_max_steps: int = Field(256, ge=1, description="Steps this replica runs at the same time")
    engine_max_runs: int = Field(1000, ge=1, description="Runs this replica executes at the same time")
    engine_lease_seconds: float = Field(
        10.0, gt=0.5, description="Run lease length; renewed every quarter of it. A replica that cannot reach "
                                  "storage stops executing a run at 85% of it (self-fencing)")
    engine_completion_sweep_seconds: float = Field(
        2.0, gt=0, description="How often this replica sweeps storage for run ends no completion trigger followed")
    engine_completion_settle_seconds: float = Field(
        5.0, ge=1, description="The sweep looks at ends at least this old: more than the clock difference between "
                               "engines and storage plus the longest storage write")
    secrets_dir: Path | None = Field(None, description="Folder of secret files for ${{ secrets.NAME }}")
