#!/usr/bin/env bash
# Base images made on this machine, for hosts that reach no container registry (VWMP_BASE_IMAGE=local).
#   deploy/local-base.sh            # prints the three --build-arg values build-images.sh passes on
# Makes, once, and keeps (an image already present is reused; the debootstrap tarball is cached in
# ${VWMP_CACHE_DIR:-~/.cache/vwmp}, so a removed image is re-imported in seconds):
#   vwmp/local-python:<suite>  debootstrap --variant=minbase (python3, python3-venv, ca-certificates)
#                              from the Debian mirror the machine's apt sources name, with the host's CA
#                              bundle (builds reach the package indexes through the machine's TLS setup)
#                              and /usr/local/bin/python3, where the public python image has it
#   vwmp/local-uv:<version>    FROM scratch, the machine's uv binary at /uv (as ghcr.io/astral-sh/uv)
#   vwmp/local-node:<version>  vwmp/local-python plus the machine's node and npm (the designer build)
# Settings: VWMP_DEBIAN_SUITE (trixie: Python 3.13, as python:3.13-slim-trixie), VWMP_DEBIAN_MIRROR,
# DOCKER (the engine command, as build-images.sh sets it).
set -euo pipefail

suite="${VWMP_DEBIAN_SUITE:-trixie}"
cache="${VWMP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vwmp}"
ca_bundle="${VWMP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
docker_cmd=(docker)
if [[ -n "${DOCKER:-}" ]]; then
  read -r -a docker_cmd <<<"${DOCKER}"
fi
build_flags=()
if [[ -n "${DOCKER_BUILD_FLAGS:-}" ]]; then
  read -r -a build_flags <<<"${DOCKER_BUILD_FLAGS}"
fi

log() { echo "local-base: $*" >&2; }
have_image() { "${docker_cmd[@]}" image inspect "$1" >/dev/null 2>&1; }

mirror() {
  # The first deb URI of the machine's apt sources (deb822 .sources or one-line sources.list).
  if [[ -n "${VWMP_DEBIAN_MIRROR:-}" ]]; then echo "${VWMP_DEBIAN_MIRROR}"; return; fi
  local found
  found="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2; exit}')"
  if [[ -z "${found}" ]]; then
    found="$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -v security | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' | head -n 1)"
  fi
  echo "${found:-http://deb.debian.org/debian}"
}

python_image="vwmp/local-python:${suite}"
# Bumped whenever the tree below changes: a cached tarball or image of an older recipe is remade.
recipe=2
recipe_of() { "${docker_cmd[@]}" image inspect --format '{{index .Labels "vwmp.recipe"}}' "$1" 2>/dev/null; }
if ! have_image "${python_image}" || [[ "$(recipe_of "${python_image}")" != "${recipe}" ]]; then
  tarball="${cache}/debian-${suite}-python-${recipe}.tar"
  if [[ ! -s "${tarball}" ]]; then
    command -v debootstrap >/dev/null || { echo "debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
    [[ -r "${ca_bundle}" ]] || { echo "no CA bundle at ${ca_bundle}" >&2; exit 1; }
    mkdir -p "${cache}"
    rootfs="$(mktemp -d "${cache}/rootfs.XXXXXX")"
    trap 'rm -rf "${rootfs}"' EXIT
    log "debootstrap ${suite} from $(mirror) (about 30 s)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      "${suite}" "${rootfs}" "$(mirror)" >"${cache}/debootstrap-${suite}.log" 2>&1 \
      || { tail -n 20 "${cache}/debootstrap-${suite}.log" >&2; exit 1; }
    # The machine's CA bundle replaces Debian's (it is Debian's plus the machine's own roots).
    cp "${ca_bundle}" "${rootfs}/etc/ssl/certs/ca-certificates.crt"
    ln -sf /usr/bin/python3 "${rootfs}/usr/local/bin/python3"
    # No package caches in a base image: downloaded .debs, apt lists, docs, man pages, translations
    # (33 MB of /usr/share/locale: the services log in English, and C.UTF-8 needs none of it).
    rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/lib/apt/lists/* \
      "${rootfs}"/usr/share/doc/* "${rootfs}"/usr/share/man/* "${rootfs}"/usr/share/locale/* \
      "${rootfs}"/usr/share/info/* "${rootfs}"/var/log/*.log \
      "${rootfs}"/var/cache/debconf/*-old
    # Nothing a service runs reads these (14 MB): Python's regression-test helpers and help() topics,
    # ensurepip's wheels (uv makes the venvs; plugin images get pip from the package index), and
    # glibc's iconv modules for legacy charsets (everything here is UTF-8, which glibc converts alone).
    rm -rf "${rootfs}"/usr/lib/python3.*/test "${rootfs}"/usr/lib/python3.*/pydoc_data \
      "${rootfs}"/usr/share/python-wheels "${rootfs}"/usr/lib/*-linux-gnu/gconv
    # ... and packages installed later (the plugin host's git) leave them out too.
    printf 'path-exclude=%s\n' '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/locale/*' '/usr/share/info/*' \
      >"${rootfs}/etc/dpkg/dpkg.cfg.d/01-vwmp-nodoc"
    printf 'path-include=%s\n' '/usr/share/doc/*/copyright' >>"${rootfs}/etc/dpkg/dpkg.cfg.d/01-vwmp-nodoc"
    tar -C "${rootfs}" --numeric-owner -cf "${tarball}.part" .
    mv "${tarball}.part" "${tarball}"
    rm -rf "${rootfs}"
    trap - EXIT
  fi
  log "importing ${python_image}"
  "${docker_cmd[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    --change "LABEL vwmp.recipe=${recipe}" \
    "${tarball}" "${python_image}" >/dev/null
fi

uv_bin="$(command -v uv 2>/dev/null || echo "${HOME}/.local/bin/uv")"
[[ -x "${uv_bin}" ]] || { echo "no uv binary (make uv)" >&2; exit 1; }
uv_version="$("${uv_bin}" --version | awk '{print $2}')"
uv_image="vwmp/local-uv:${uv_version}"
if ! have_image "${uv_image}"; then
  context="$(mktemp -d)"
  cp "${uv_bin}" "${context}/uv"
  printf 'FROM scratch\nCOPY uv /uv\n' >"${context}/Dockerfile"
  log "building ${uv_image}"
  "${docker_cmd[@]}" build "${build_flags[@]}" --quiet --tag "${uv_image}" "${context}" >/dev/null
  rm -rf "${context}"
fi

node_image=""
node_bin="$(command -v node 2>/dev/null || true)"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm 2>/dev/null || echo /nonexistent/bin/npm)")")")"
if [[ -n "${node_bin}" && -f "${npm_dir}/package.json" ]]; then
  node_image="vwmp/local-node:$("${node_bin}" --version | tr -d v)"
  if ! have_image "${node_image}"; then
    context="$(mktemp -d)"
    cp "$(readlink -f "${node_bin}")" "${context}/node"
    cp -a "${npm_dir}" "${context}/npm"
    cat >"${context}/Dockerfile" <<EOF
FROM ${python_image}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
EOF
    log "building ${node_image}"
    "${docker_cmd[@]}" build "${build_flags[@]}" --quiet --tag "${node_image}" "${context}" >/dev/null
    rm -rf "${context}"
  fi
else
  log "no node/npm on this machine: the gateway image needs NODE_IMAGE from a registry"
fi

echo "--build-arg PYTHON_IMAGE=${python_image} --build-arg UV_IMAGE=${uv_image}${node_image:+ --build-arg NODE_IMAGE=${node_image}}"
