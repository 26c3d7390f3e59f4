// The runs list's search: what the URL query holds (so a search can be shared as a link) and what the
// gateway's GET /runs is asked. Kept free of React so it is unit-tested.
import type { RunState } from '../api/types';
import { isRunState } from './runState';

export interface RunSearch {
  workflow?: string;
  state?: RunState;
  /** A trigger kind (`manual`, `schedule`, `webhook`, `on_run`) or a trigger id. */
  trigger?: string;
  /** Who started the runs (a token's name, the runs' `created_by`). */
  actor?: string;
  /** A day (`2026-12-01`, from midnight in the browser's zone) or an ISO 8601 moment: runs created at or after it. */
  since?: string;
  /** A day (the whole day is included) or an ISO 8601 moment: runs created before it. */
  until?: string;
  /** Run parameters compared as text, `param.<name>=<value>`, in the order typed. */
  params?: [string, string][];
}

export const PARAM_PREFIX = 'param.';
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The search a `#/runs?...` query names; unknown states are dropped, as the list could not show them. */
export function parseRunSearch(q: URLSearchParams): RunSearch {
  const text = (k: string) => q.get(k)?.trim() || undefined;
  const state = q.get('state') ?? '';
  const params: [string, string][] = [];
  for (const [k, v] of q) if (k.startsWith(PARAM_PREFIX) && k.length > PARAM_PREFIX.length) params.push([k.slice(PARAM_PREFIX.length), v]);
  return {
    workflow: text('workflow'),
    state: isRunState(state) ? state : undefined,
    trigger: text('trigger'),
    actor: text('actor'),
    since: text('since'),
    until: text('until'),
    params: params.length ? params : undefined,
  };
}

/** The URL query of a search: only what is set, in a stable order. */
export function runSearchQuery(s: RunSearch): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of ['workflow', 'state', 'trigger', 'actor', 'since', 'until'] as const) {
    const v = s[k];
    if (v) q.set(k, v);
  }
  for (const [name, value] of s.params ?? []) if (name) q.append(`${PARAM_PREFIX}${name}`, value);
  return q;
}

export function runSearchHash(s: RunSearch): string {
  const q = runSearchQuery(s).toString();
  return `/runs${q ? `?${q}` : ''}`;
}

/** A day as the moment it starts in the browser's zone (`next`: the day after it), else the text as typed. */
export function toMoment(value: string, next = false): string {
  if (!DAY.test(value)) return value;
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d + (next ? 1 : 0)).toISOString();
}

/** The query GET /runs is asked (besides limit/offset): days become ISO moments, `until` a day includes that day. */
export function runSearchApiQuery(s: RunSearch): Record<string, string> {
  const out: Record<string, string> = {};
  if (s.workflow) out.workflow = s.workflow;
  if (s.state) out.state = s.state;
  if (s.trigger) out.trigger = s.trigger;
  if (s.actor) out.actor = s.actor;
  if (s.since) out.since = toMoment(s.since);
  if (s.until) out.until = toMoment(s.until, true);
  for (const [name, value] of s.params ?? []) if (name) out[`${PARAM_PREFIX}${name}`] = value;
  return out;
}

/** A parameter filter typed as `name=value` (the value may hold `=`); null when there is no name. */
export function parseParamFilter(text: string): [string, string] | null {
  const at = text.indexOf('=');
  const name = (at < 0 ? text : text.slice(0, at)).trim().replace(/^param\./, '');
  if (!name) return null;
  return [name, at < 0 ? '' : text.slice(at + 1)];
}

/** Which filter field a gateway problem pointer (`/query/param.repo`, `/query/since`) is about. */
export function filterOfPointer(pointer: string): string | null {
  const m = /^\/query\/(.+)$/.exec(pointer);
  return m ? decodeURIComponent(m[1].replace(/~1/g, '/').replace(/~0/g, '~')) : null;
}

export function isEmptySearch(s: RunSearch): boolean {
  return runSearchQuery(s).toString() === '';
}
