"""Gateway settings: the HTTP side of the operator contract (ARCHITECTURE §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode
from vwmp_common.settings import ServiceSettings

_REPO_FRONTEND = Path(__file__).resolve().parents[4] / "frontend" / "dist"


def _default_frontend_dir() -> Path | None:
    return _REPO_FRONTEND if _REPO_FRONTEND.is_dir() else None


class GatewaySettings(ServiceSettings):
    """Settings of the API gateway (every field from a `VWMP_` variable)."""

    http_port: int = Field(8080, description="Port of the REST/WebSocket API and the UI")
    http_host: str = Field("127.0.0.1", description="Address the HTTP server binds to")
    frontend_dir: Path | None = Field(
        default_factory=_default_frontend_dir, description="Built designer (frontend/dist) served at /"
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra browser origins allowed for CORS and WebSocket handshakes (comma separated)",
    )
    admin_token: str | None = Field(
        None, description="Optional admin token secret accepted as admin (bootstrap without storage)"
    )
    token_cache_seconds: float = Field(
        2.0, ge=0, le=5, description="How long a verified token is trusted before asking storage again"
    )
    ws_reverify_seconds: float = Field(5.0, gt=0, description="How often an open WebSocket re-checks its token")
    ws_idle_backfill_seconds: float = Field(
        2.0, gt=0, description="Backfill from storage when a stream saw nothing for this long"
    )
    ws_max_frame_bytes: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024,
        description="Largest WebSocket message a client may send; above it the socket is closed with 1009",
    )
    max_body_bytes: int = Field(8 * 1024 * 1024, gt=0, description="Largest request body accepted (413 above)")
    rate_limit: float = Field(50.0, ge=0, description="Requests per second per token (0 disables)")
    rate_burst: int = Field(200, gt=0, description="Burst size of the per-token rate limit")
    hook_max_body_bytes: int = Field(512 * 1024, gt=0, description="Largest webhook delivery accepted (413 above)")
    hook_rate_limit: float = Field(5.0, ge=0, description="Webhook deliveries per second per trigger (0 disables)")
    hook_rate_burst: int = Field(30, gt=0, description="Burst size of the per-trigger webhook rate limit")
    admin_token_file: Path | None = Field(
        None, description="Where the bootstrap admin token is written; default $VWMP_DATA_DIR/admin-token"
    )
    bootstrap_admin: bool = Field(True, description="Create the first admin token at start-up")

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    def uvicorn_options(self) -> dict[str, object]:
        """Options every uvicorn that serves the gateway uses (production and tests alike)."""
        return {"ws_max_size": self.ws_max_frame_bytes, "proxy_headers": False, "log_config": None}

    def admin_token_path(self) -> Path:
        """File that holds the bootstrap admin token secret (mode 0600)."""
        return self.admin_token_file or self.data_dir / "admin-token"
