# syntax=docker/dockerfile:1
# The two stages every Python service image starts from, declared once so they cannot drift apart:
#   builder  Python, uv and the settings that install a locked workspace package into /opt/venv
#   runtime  the same Python, the unprivileged user 10001 and the environment every service shares
# deploy/build-images.sh builds both targets first (vwmp/python-builder, vwmp/python-runtime) and
# passes them to each services/<name>/Dockerfile as BUILDER_IMAGE and RUNTIME_IMAGE. Build context:
# the repository root (nothing of it is copied here).
#   docker build -f deploy/python-base.Dockerfile --target builder -t vwmp/python-builder:dev .

ARG PYTHON_IMAGE=python:3.13-slim-trixie
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode is compiled here because the runtime root filesystem is read-only.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv

# The venv built above runs here: same Python image, same /usr/local/bin/python3.
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 vwmp \
    && useradd --system --uid 10001 --gid vwmp --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin vwmp \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/vwmp
# State lives only under /var/lib/vwmp (a mounted volume); nothing writes bytecode at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VWMP_DATA_DIR=/var/lib/vwmp
WORKDIR /var/lib/vwmp
USER 10001:10001
