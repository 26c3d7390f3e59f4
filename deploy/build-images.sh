#!/usr/bin/env bash
# Build every VWMP image from the repository root (the build context of each Dockerfile).
#   deploy/build-images.sh                 # tags vwmp/<service>:dev
#   deploy/build-images.sh 0.1.0 registry.example.com/vwmp --push
#   VWMP_BASE_IMAGE=local deploy/build-images.sh   # on base images made here (deploy/local-base.sh)
# One name per service: the folder services/<name>, the image <prefix>/<name>, the Deployment <name>.
# The shared base stages (deploy/python-base.Dockerfile) are built first, under the same tag, and
# every service image is built FROM them, then the plugin SDK image (deploy/plugin-sdk.Dockerfile:
# the plugin host and vwmp-sdk, no built-in plugin) and the example plugin image on it
# (deploy/examples/plugin-image, examples/hello-plugin); only the service images and the SDK image
# are pushed.
# The engine: $DOCKER when set (a command line, e.g. "podman --runtime runc"), else docker when a
# Docker engine answers, else podman (with runc and explicit ulimits, see docs/deploy.md).
set -euo pipefail

tag="${1:-dev}"
prefix="${2:-vwmp}"
push="${3:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build_flags=()
if [[ -n "${DOCKER:-}" ]]; then
  read -r -a docker_cmd <<<"${DOCKER}"
elif docker info >/dev/null 2>&1; then
  docker_cmd=(docker)
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
  docker_cmd=(podman)
  # crun refuses hybrid cgroup hosts; podman's default nofile/nproc limits exceed some hosts' hard limits.
  if command -v runc >/dev/null 2>&1; then docker_cmd+=(--runtime runc); fi
  build_flags=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
else
  echo "no container engine answers (docker info and podman info fail): install Docker or podman" >&2
  echo "(make images installs podman, runc and debootstrap with apt-get)" >&2
  exit 1
fi
if [[ -n "${DOCKER_BUILD_FLAGS:-}" ]]; then
  read -r -a build_flags <<<"${DOCKER_BUILD_FLAGS}"
fi
export DOCKER="${docker_cmd[*]}" DOCKER_BUILD_FLAGS="${build_flags[*]}"

# podman reads <Dockerfile>.dockerignore only when told; Docker (BuildKit) reads it by itself.
ignore_flags() {
  if [[ "$(basename "${docker_cmd[0]}")" == podman && -f "$1.dockerignore" ]]; then
    echo "--ignorefile $1.dockerignore"
  fi
}

local_args=()
gateway_args=()
if [[ "${VWMP_BASE_IMAGE:-public}" == local ]]; then
  read -r -a made <<<"$(bash "${root}/deploy/local-base.sh")"
  for ((i = 0; i < ${#made[@]}; i += 2)); do
    if [[ "${made[i + 1]}" == NODE_IMAGE=* ]]; then
      gateway_args+=("${made[i]}" "${made[i + 1]}")
    else
      local_args+=("${made[i]}" "${made[i + 1]}")
    fi
  done
elif [[ "${VWMP_BASE_IMAGE:-public}" != public ]]; then
  echo "VWMP_BASE_IMAGE is public (python:3.13-slim, ghcr.io/astral-sh/uv) or local, not ${VWMP_BASE_IMAGE}" >&2
  exit 1
fi

build() {
  local dockerfile="$1"
  shift
  # shellcheck disable=SC2046
  "${docker_cmd[@]}" build "${build_flags[@]}" $(ignore_flags "${dockerfile}") --file "${dockerfile}" "$@"
}

base_args=()
for stage in builder runtime; do
  image="${prefix}/python-${stage}:${tag}"
  echo "building ${image}"
  build "${root}/deploy/python-base.Dockerfile" "${local_args[@]}" --target "${stage}" --tag "${image}" "${root}"
  base_args+=(--build-arg "${stage^^}_IMAGE=${image}")
done

for dockerfile in "${root}"/services/*/Dockerfile; do
  name="$(basename "$(dirname "${dockerfile}")")"
  image="${prefix}/${name}:${tag}"
  extra=()
  if [[ "${name}" == api-gateway ]]; then extra=("${gateway_args[@]}"); fi
  echo "building ${image}"
  build "${dockerfile}" "${base_args[@]}" "${extra[@]}" --tag "${image}" "${root}"
  if [[ "${push}" == "--push" ]]; then
    "${docker_cmd[@]}" push "${image}"
  fi
done

sdk="${prefix}/plugin-sdk:${tag}"
echo "building ${sdk}"
build "${root}/deploy/plugin-sdk.Dockerfile" "${base_args[@]}" --tag "${sdk}" "${root}"
if [[ "${push}" == "--push" ]]; then
  "${docker_cmd[@]}" push "${sdk}"
fi

example="${prefix}/plugin-hello:${tag}"
echo "building ${example}"
build "${root}/deploy/examples/plugin-image/Dockerfile" --build-arg "PLUGIN_SDK_IMAGE=${sdk}" --tag "${example}" \
  "${root}/examples/hello-plugin"
