"""NATS names shared by publishers and subscribers."""

EVENTS_STREAM = "VWMP_EVENTS"
EVENTS_SUBJECT_PREFIX = "vwmp.events"
EVENTS_WILDCARD = f"{EVENTS_SUBJECT_PREFIX}.>"
PLUGIN_HOSTS_BUCKET = "vwmp_plugin_hosts"
PLUGIN_HOST_TTL_SECONDS = 15.0
PLUGIN_HOST_HEARTBEAT_SECONDS = 5.0


def run_events_subject(run_id: str) -> str:
    """Subject every event of one run is published on."""
    return f"{EVENTS_SUBJECT_PREFIX}.{run_id}"


def event_msg_id(run_id: str, seq: int) -> str:
    """Nats-Msg-Id of an event: JetStream drops a second publish with the same id."""
    return f"{run_id}:{seq}"
