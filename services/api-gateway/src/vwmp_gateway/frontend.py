"""Serves the built designer (frontend/dist) with a single-page-app fallback to index.html."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from vwmp_gateway.problems import Problem

_NOT_SPA = ("/api/", "/docs", "/openapi.json", "/metrics", "/redoc")


def mount_frontend(app: FastAPI, root: Path) -> None:
    """Every GET outside the API answers a file of `root`, or index.html for client-side routes."""
    root = root.resolve()
    index = root / "index.html"

    @app.get("/{path:path}", include_in_schema=False)
    async def frontend(path: str, request: Request) -> Response:
        if request.url.path.startswith(_NOT_SPA) or request.url.path == "/api":
            raise Problem(404, "No such API route")
        candidate = (root / path).resolve()
        if path and candidate.is_relative_to(root) and candidate.is_file():
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        raise Problem(404, "The designer is not built (frontend/dist)")
