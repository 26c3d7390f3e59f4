#!/usr/bin/env bash
# An SBOM per image, from what the image was built from, into ${VWMP_SBOM_DIR:-dist/sbom}:
#   <image>.cdx.json   CycloneDX 1.5 of the Python packages, by the build tool itself
#                      (`uv export --format cyclonedx1.5` of the packages the Dockerfile's
#                      `uv sync --frozen --package ...` installs: the same lock, the same closure)
#   <image>.dpkg.txt   the Debian packages of the image (`dpkg-query -W` run in it), the OS layer
#   deploy/sbom.sh [tag] [prefix]    (make images runs it after deploy/build-images.sh)
set -euo pipefail

tag="${1:-dev}"
prefix="${2:-vwmp}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${VWMP_SBOM_DIR:-${root}/dist/sbom}"
uv="$(command -v uv 2>/dev/null || echo "${HOME}/.local/bin/uv")"
docker_cmd=(docker)
if [[ -n "${DOCKER:-}" ]]; then
  read -r -a docker_cmd <<<"${DOCKER}"
elif ! docker info >/dev/null 2>&1 && command -v podman >/dev/null 2>&1; then
  docker_cmd=(podman)
  if command -v runc >/dev/null 2>&1; then docker_cmd+=(--runtime runc); fi
fi
run_flags=()
if [[ "$(basename "${docker_cmd[0]}")" == podman ]]; then
  run_flags=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
fi
mkdir -p "${out}"

packages_of() {  # the --package names of a Dockerfile's uv sync lines
  grep -oE -- '--package [a-z0-9-]+' "$1" | awk '{print "--package", $2}' | sort -u | tr '\n' ' '
}

declare -A dockerfiles=([plugin-sdk]="${root}/deploy/plugin-sdk.Dockerfile")
for dockerfile in "${root}"/services/*/Dockerfile; do
  dockerfiles["$(basename "$(dirname "${dockerfile}")")"]="${dockerfile}"
done

for name in "${!dockerfiles[@]}" plugin-hello; do
  image="${prefix}/${name}:${tag}"
  if [[ "${name}" == plugin-hello ]]; then
    # shellcheck disable=SC2046
    "${uv}" export --quiet --frozen --no-dev --format cyclonedx1.5 --preview-features sbom-export \
      --project "${root}" $(packages_of "${dockerfiles[plugin-sdk]}") --package vwmp-example-hello \
      --output-file "${out}/${name}.cdx.json" >/dev/null
  else
    # shellcheck disable=SC2046
    "${uv}" export --quiet --frozen --no-dev --format cyclonedx1.5 --preview-features sbom-export \
      --project "${root}" $(packages_of "${dockerfiles[${name}]}") --output-file "${out}/${name}.cdx.json" >/dev/null
  fi
  "${docker_cmd[@]}" run --rm "${run_flags[@]}" --entrypoint dpkg-query "${image}" \
    -W -f '${Package} ${Version}\n' >"${out}/${name}.dpkg.txt"
  echo "sbom: ${out}/${name}.cdx.json, ${name}.dpkg.txt"
done
