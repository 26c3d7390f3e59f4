import { wsUrl } from './client';
import type { RunEvent } from './types';

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
      try {
        const body: unknown = JSON.parse(String(m.data));
        const list = Array.isArray(body) ? body : (body as { events?: unknown[] })?.events ?? [body];
        onEvents((list as RunEvent[]).filter((e) => e && typeof e.seq === 'number'));
      } catch {
        /* a malformed frame is ignored; the next reconnect replays from the cursor */
      }
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
      try {
        const body: unknown = JSON.parse(String(m.data));
        for (const ev of Array.isArray(body) ? body : [body]) if (ev && typeof ev.type === 'string') onEvent(ev as RunEvent);
      } catch {
        /* ignore a malformed frame */
      }
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
