# syntax=docker/dockerfile:1
# The image plugin authors build FROM: the plugin host and vwmp-sdk (with the libraries they use),
# pip, and no plugin, no git. deploy/examples/plugin-image/Dockerfile adds one plugin with pip.
# Build context: the repository root; deploy/build-images.sh builds the shared base stages
# (deploy/python-base.Dockerfile) first and passes them in.
#   docker build -f deploy/plugin-sdk.Dockerfile -t vwmp/plugin-sdk .

ARG BUILDER_IMAGE=vwmp/python-builder:dev
ARG RUNTIME_IMAGE=vwmp/python-runtime:dev

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --no-install-workspace --package vwmp-plugin-host
COPY libs ./libs
COPY services/plugin-host ./services/plugin-host
# pip inside the venv is what a plugin image uses to add its plugin.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package vwmp-plugin-host \
    && uv pip install --python /opt/venv/bin/python "pip==25.3" \
    && find /opt/venv/lib/python3*/site-packages/pip -name __pycache__ -prune -exec rm -rf {} +

FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=builder /opt/venv /opt/venv
ENV VWMP_GRPC_HOST=0.0.0.0 \
    VWMP_PLUGIN_HOST_PORT=50053
EXPOSE 50053
ENTRYPOINT ["vwmp-plugin-host"]
