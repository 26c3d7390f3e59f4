import { wsUrl } from './client';
import { eventTypeValues } from './enums';
import type { RunEvent } from './types';

/** The gateway sends one event (an EventPublic) per text frame. */
function parseEvent(frame: unknown): RunEvent | null {
  try {
    const body: unknown = JSON.parse(String(frame));
    return isRunEvent(body) ? body : null;
  } catch {
    return null;
  }
}

const KNOWN_EVENT_TYPES: readonly unknown[] = eventTypeValues;

function isRunEvent(body: unknown): body is RunEvent {
  return typeof body === 'object' && body !== null
    && 'seq' in body && typeof body.seq === 'number'
    && 'run_id' in body && typeof body.run_id === 'string'
    && 'type' in body && KNOWN_EVENT_TYPES.includes(body.type)
    && 'data' in body && typeof body.data === 'object' && body.data !== null;
}

/**
 * Follows a run's events over the WebSocket and reconnects with `after=<last seq>`, so nothing is
 * missed across a drop. Returns a function that closes the stream.
 */
export function followRun(runId: string, getAfter: () => number, onEvents: (evs: RunEvent[]) => void, onStatus: (live: boolean) => void): () => void {
  let ws: WebSocket | null = null;
  let closed = false;
  let delay = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    ws = new WebSocket(wsUrl(`/api/v1/runs/${encodeURIComponent(runId)}/stream`, { after: getAfter() }));
    ws.onopen = () => {
      delay = 500;
      onStatus(true);
    };
    ws.onmessage = (m) => {
      // A malformed frame is ignored; the next reconnect replays from the cursor.
      const event = parseEvent(m.data);
      if (event) onEvents([event]);
    };
    ws.onclose = () => {
      onStatus(false);
      if (closed) return;
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    ws?.close();
  };
}

/** Calls `onEvent` for every event of every run (WS /stream); reconnects until closed. */
export function followAll(onEvent: (ev: RunEvent) => void): () => void {
  let ws: WebSocket | null = null;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    ws = new WebSocket(wsUrl('/api/v1/stream', {}));
    ws.onmessage = (m) => {
      const event = parseEvent(m.data);
      if (event) onEvent(event);
    };
    ws.onclose = () => {
      if (!closed) timer = setTimeout(open, 3000);
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    ws?.close();
  };
}
