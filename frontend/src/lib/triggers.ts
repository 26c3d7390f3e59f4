// `spec.triggers` of a definition: reading and editing the entries, the schedule preview (cron by
// croner, `every:` as whole multiples of the interval since the epoch, as the engine computes them),
// the webhook URL and the forges' setup hints, and how a run's trigger reads in a list.
import { Cron } from 'croner';
import type { RunTrigger, TriggerKind, ValidationIssue, WorkflowDefinition } from '../api/types';

export type DefinedKind = Exclude<TriggerKind, 'manual'>;
export const TRIGGER_KINDS: readonly DefinedKind[] = ['schedule', 'webhook', 'on_run'];
export type Provider = 'github' | 'gitlab' | 'gitea' | 'generic';
export const PROVIDERS: readonly Provider[] = ['github', 'gitlab', 'gitea', 'generic'];
export const OVERLAP_VALUES = ['skip', 'queue', 'allow'] as const;
export const CATCHUP_VALUES = ['latest', 'none'] as const;
/** The run states a completion trigger can wait for (the terminal ones). */
export const END_STATES = ['succeeded', 'succeeded_with_warnings', 'failed', 'cancelled'] as const;

export interface ScheduleSpec { cron?: string; timezone?: string; every?: string | number }
export interface WebhookSpec { provider: Provider; secret: string; filter?: string }
export interface OnRunSpec { workflow: string; states?: string[] }

export interface TriggerSpec {
  id: string;
  schedule?: ScheduleSpec;
  webhook?: WebhookSpec;
  on_run?: OnRunSpec;
  overlap?: (typeof OVERLAP_VALUES)[number];
  catchup?: (typeof CATCHUP_VALUES)[number];
  parameters?: Record<string, unknown>;
  [extra: string]: unknown;
}

export function triggersOf(def: WorkflowDefinition): TriggerSpec[] {
  const t = def.spec.triggers;
  return Array.isArray(t) ? (t as TriggerSpec[]) : [];
}

/** Replaces the list; an emptied list removes the key, so a definition without triggers stays as it was. */
export function setTriggers(def: WorkflowDefinition, triggers: TriggerSpec[]): WorkflowDefinition {
  const spec = { ...def.spec };
  if (triggers.length) spec.triggers = triggers;
  else delete spec.triggers;
  return { ...def, spec };
}

export function updateTrigger(def: WorkflowDefinition, index: number, patch: Partial<TriggerSpec>): WorkflowDefinition {
  const list = triggersOf(def).map((t, i) => {
    if (i !== index) return t;
    const next: TriggerSpec = { ...t, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
    return next;
  });
  return setTriggers(def, list);
}

export function kindOf(t: TriggerSpec): DefinedKind | null {
  if (t.schedule) return 'schedule';
  if (t.webhook) return 'webhook';
  if (t.on_run) return 'on_run';
  return null;
}

/** A fresh entry of a kind, with an id not yet taken (`schedule-1`, `webhook-2`, …). */
export function newTrigger(kind: DefinedKind, taken: TriggerSpec[]): TriggerSpec {
  const base = { schedule: 'schedule', webhook: 'webhook', on_run: 'after-run' }[kind];
  const ids = new Set(taken.map((t) => t.id));
  let n = 1;
  while (ids.has(`${base}-${n}`)) n += 1;
  const id = `${base}-${n}`;
  if (kind === 'schedule') return { id, schedule: { cron: '0 3 * * 1-5', timezone: 'UTC' } };
  if (kind === 'webhook') return { id, webhook: { provider: 'github', secret: '${{ secrets.RELEASE_HOOK }}' } };
  return { id, on_run: { workflow: '', states: ['succeeded'] } };
}

/** Switching kind swaps the kind's block and drops what only the old kind knew (catchup). */
export function changeKind(t: TriggerSpec, kind: DefinedKind): TriggerSpec {
  const fresh = newTrigger(kind, []);
  const dropped = new Set(['schedule', 'webhook', 'on_run', ...(kind === 'schedule' ? [] : ['catchup'])]);
  const kept = Object.fromEntries(Object.entries(t).filter(([k]) => !dropped.has(k))) as TriggerSpec;
  return { ...kept, [kind]: fresh[kind], id: t.id };
}

// --- schedules ---------------------------------------------------------------------------------

/** `30s`, `5m`, `1h`, `1d` or a number of seconds → seconds; null when it is none of those. */
export function parseEvery(every: string | number | undefined): number | null {
  if (typeof every === 'number') return every > 0 ? every : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(every ?? '');
  if (!m) return null;
  const n = Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? 's']!;
  return n > 0 ? n : null;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export type Preview = { times: Date[]; error: null; field: null } | { times: []; error: string; field: 'cron' | 'timezone' | 'every' };

/** The next `n` fire times of a schedule after `from`, or why there are none (with the field to blame). */
export function nextFires(s: ScheduleSpec, n = 5, from: Date = new Date()): Preview {
  if (s.every !== undefined && s.every !== '') {
    const secs = parseEvery(s.every);
    if (secs == null) return { times: [], error: 'Not a duration: use 30s, 5m, 1h or a number of seconds', field: 'every' };
    const step = secs * 1000;
    const first = Math.floor(from.getTime() / step) * step + step;
    return { times: Array.from({ length: n }, (_, i) => new Date(first + i * step)), error: null, field: null };
  }
  const cron = (s.cron ?? '').trim();
  const fields = cron.split(/\s+/).filter(Boolean);
  if (fields.length !== 5) {
    return { times: [], error: `A cron expression has five fields (minute hour day-of-month month day-of-week); this one has ${fields.length}`, field: 'cron' };
  }
  const tz = s.timezone || 'UTC';
  if (!isTimeZone(tz)) return { times: [], error: `Unknown time zone "${tz}" (an IANA name such as Europe/Berlin)`, field: 'timezone' };
  try {
    const job = new Cron(cron, { timezone: tz, paused: true });
    return { times: job.nextRuns(n, from), error: null, field: null };
  } catch (err) {
    const why = (err as Error).message.replace(/^CronPattern:\s*/, '');
    return { times: [], error: `Invalid cron: ${why.charAt(0).toLowerCase()}${why.slice(1)}`, field: 'cron' };
  }
}

/** "Wed 3 Dec, 03:00 CET" in a time zone (`year` adds the year). */
export function formatIn(d: Date, timeZone: string | undefined, year = false): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone, weekday: 'short', day: 'numeric', month: 'short', year: year ? 'numeric' : undefined, hour: '2-digit', minute: '2-digit',
    second: d.getUTCSeconds() ? '2-digit' : undefined, timeZoneName: 'short',
  }).format(d);
}

// --- webhooks ----------------------------------------------------------------------------------

export function webhookUrl(origin: string, workflow: string, triggerId: string): string {
  return `${origin.replace(/\/$/, '')}/api/v1/hooks/${encodeURIComponent(workflow)}/${encodeURIComponent(triggerId)}`;
}

export interface ProviderHint { where: string; contentType: string; secret: string; header: string; events: string }

/** What to set on the forge's side (docs/triggers.md). */
export const PROVIDER_HINTS: Record<Provider, ProviderHint> = {
  github: {
    where: 'Repository → Settings → Webhooks → Add webhook; Payload URL: the URL above',
    contentType: 'application/json (the form encoding is not parsed)',
    secret: 'Secret: the secret\'s value',
    header: 'GitHub signs the raw body into X-Hub-Signature-256; X-GitHub-Delivery deduplicates redeliveries',
    events: 'Just the push event (a tag push is a push of refs/tags/…)',
  },
  gitlab: {
    where: 'Project → Settings → Webhooks → Add new webhook; URL: the URL above',
    contentType: 'JSON (GitLab always sends application/json)',
    secret: 'Secret token: the secret\'s value (use HTTPS: it is sent as is)',
    header: 'GitLab sends the secret as X-Gitlab-Token; X-Gitlab-Event-UUID deduplicates',
    events: 'Push events and/or Tag push events',
  },
  gitea: {
    where: 'Repository → Settings → Webhooks → Add webhook → Gitea; Target URL: the URL above',
    contentType: 'HTTP method POST, POST content type application/json',
    secret: 'Secret: the secret\'s value',
    header: 'Gitea signs the body into X-Gitea-Signature; X-Gitea-Delivery deduplicates',
    events: 'Push events (tags arrive as pushes of refs/tags/…)',
  },
  generic: {
    where: 'Any sender: POST the JSON payload to the URL above',
    contentType: 'Content-Type: application/json',
    secret: 'HMAC-SHA256 of the raw body with the secret\'s value, hex',
    header: 'X-VWMP-Signature-256: sha256=<hex>; a unique X-VWMP-Delivery per event deduplicates',
    events: 'Whatever the sender sends; X-VWMP-Event names it',
  },
};

// --- runs --------------------------------------------------------------------------------------

export interface TriggerLabel { kind: TriggerKind; text: string; upstreamRunId: string | null }

/** How a run's trigger reads in a list: "schedule · nightly", "webhook · on-push", "after run …", "manual". */
export function triggerLabel(t: RunTrigger | null | undefined): TriggerLabel {
  if (!t || t.kind === 'manual') return { kind: 'manual', text: 'manual', upstreamRunId: null };
  if (t.kind === 'on_run') return { kind: 'on_run', text: t.id ? `${t.id} · after run` : 'after run', upstreamRunId: t.run_id ?? null };
  return { kind: t.kind, text: `${t.kind} · ${t.id ?? '?'}`, upstreamRunId: null };
}

// Glyphs the common system fonts have (DejaVu, Noto): no emoji font is assumed.
export const TRIGGER_ICON: Record<TriggerKind, string> = { manual: '▷', schedule: '◷', webhook: '⚡', on_run: '↪' };

// --- validation issues ------------------------------------------------------------------------

/** The gateway's issues about trigger `index`, by the path below it ('schedule/cron', 'id', '' for the entry). */
export function triggerIssues(issues: ValidationIssue[], index: number): Map<string, string[]> {
  const prefix = `/spec/triggers/${index}`;
  const out = new Map<string, string[]>();
  for (const i of issues) {
    if (i.pointer !== prefix && !i.pointer.startsWith(`${prefix}/`)) continue;
    const path = i.pointer.slice(prefix.length + 1);
    out.set(path, [...(out.get(path) ?? []), i.message]);
  }
  return out;
}

/** The messages at `path` or below it (parameters/repo lands on the parameters field). */
export function issuesAt(map: Map<string, string[]>, path: string): string[] {
  return [...map].filter(([p]) => p === path || p.startsWith(`${path}/`)).flatMap(([, m]) => m);
}

/** "in 42s", "in 3m", "in 5h", or the date: how far off a next fire time is. */
export function untilText(iso: string, now: number = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s <= 0) return 'due now';
  if (s < 60) return `in ${s}s`;
  if (s < 3600) return `in ${Math.round(s / 60)}m`;
  if (s < 86400) return `in ${Math.round(s / 3600)}h`;
  return `in ${Math.round(s / 86400)}d`;
}
