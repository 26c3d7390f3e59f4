#!/usr/bin/env bash
# Build every VWMP image from the repository root (the build context of each Dockerfile).
#   deploy/build-images.sh                 # tags vwmp/<service>:dev
#   deploy/build-images.sh 0.1.0 registry.example.com/vwmp --push
# One name per service: the folder services/<name>, the image <prefix>/<name>, the Deployment <name>.
# The shared base stages (deploy/python-base.Dockerfile) are built first, under the same tag, and
# every service image is built FROM them; only the service images are pushed.
set -euo pipefail

tag="${1:-dev}"
prefix="${2:-vwmp}"
push="${3:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
docker_cmd=(docker)
if [[ -n "${DOCKER:-}" ]]; then
  read -r -a docker_cmd <<<"${DOCKER}"
fi

base_args=()
for stage in builder runtime; do
  image="${prefix}/python-${stage}:${tag}"
  echo "building ${image}"
  "${docker_cmd[@]}" build --file "${root}/deploy/python-base.Dockerfile" --target "${stage}" --tag "${image}" "${root}"
  base_args+=(--build-arg "${stage^^}_IMAGE=${image}")
done

for dockerfile in "${root}"/services/*/Dockerfile; do
  name="$(basename "$(dirname "${dockerfile}")")"
  image="${prefix}/${name}:${tag}"
  echo "building ${image}"
  "${docker_cmd[@]}" build --file "${dockerfile}" "${base_args[@]}" --tag "${image}" "${root}"
  if [[ "${push}" == "--push" ]]; then
    "${docker_cmd[@]}" push "${image}"
  fi
done
