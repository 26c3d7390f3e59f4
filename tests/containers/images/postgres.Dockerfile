# PostgreSQL for the container tests: the `postgres` of Debian's package on the Debian base the
# images use (BASE_IMAGE: vwmp/local-python:trixie when made here, debian:trixie-slim otherwise).
# A throw-away cluster on a tmpfs, initialised at start: user vwmp, password $POSTGRES_PASSWORD,
# database vwmp, scram-sha-256 from the container network.
ARG BASE_IMAGE=debian:trixie-slim
FROM ${BASE_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY --chmod=0755 postgres-start.sh /usr/local/bin/postgres-start
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-start"]
