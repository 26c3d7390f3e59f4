// A keyed run's place in its concurrency queue (run field `concurrency`, docs/contracts.md) and the
// words the run view and the runs list use for it. Pure: the pages fetch, this decides the text.
import type { OnConflict, Run, RunConcurrency } from '../api/types';
import { ON_CONFLICT_VALUES } from '../api/types';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The run's `concurrency` object, or null when the workflow has no key (or the field is absent). */
export function concurrencyOf(run: unknown): RunConcurrency | null {
  if (!isRecord(run) || !isRecord(run.concurrency)) return null;
  const c = run.concurrency;
  if (typeof c.key !== 'string') return null;
  const onConflict = ON_CONFLICT_VALUES.includes(c.on_conflict as OnConflict) ? (c.on_conflict as OnConflict) : 'queue';
  return {
    key: c.key,
    limit: typeof c.limit === 'number' ? c.limit : 1,
    on_conflict: onConflict,
    position: typeof c.position === 'number' ? c.position : 0,
    blocked_by: Array.isArray(c.blocked_by) ? c.blocked_by.filter((x): x is string => typeof x === 'string') : [],
  };
}

/** True while the run waits for a slot of its key. */
export function isWaiting(c: RunConcurrency | null, state: string): c is RunConcurrency {
  return !!c && state === 'queued' && c.position > 0;
}

/** "#2 in queue" while waiting; null once the run holds its slot. */
export function queueText(c: RunConcurrency | null, state: string): string | null {
  return isWaiting(c, state) ? `#${c.position} in queue` : null;
}

export function shortId(id: string): string {
  return id.length > 8 ? id.slice(0, 8) : id;
}

/**
 * Why a blocking run holds its slot, in the words a user waits on: a gate waiting for a person is
 * "awaiting approval", a paused run "paused", otherwise its state.
 */
export function blockerState(run: Pick<Run, 'state' | 'steps'>): string {
  if (run.steps.some((s) => s.state === 'awaiting_approval')) return 'awaiting approval';
  return run.state.replace(/_/g, ' ');
}

/** "waiting for run 1a2b3c4d (awaiting approval)"; the state is left out until it is known. */
export function waitingText(blockerId: string, state: string | null | undefined): string {
  return `waiting for run ${shortId(blockerId)}${state ? ` (${state})` : ''}`;
}

/** The `concurrency` extension of a 409 concurrency-conflict problem (a start refused by `fail`). */
export function conflictOf(problem: unknown): { key: string; blocked_by: string[] } | null {
  if (!isRecord(problem) || !isRecord(problem.concurrency) || typeof problem.concurrency.key !== 'string') return null;
  const ids = problem.concurrency.blocked_by;
  return { key: problem.concurrency.key, blocked_by: Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [] };
}
