// Fan-out steps: the literal `for_each` list as the step panel edits it, and the per-item states
// of a run (instances are steps `greet[3]` with parent `greet` and item_index 3).
import YAML from 'yaml';
import type { StepState } from '../api/types';
import type { FanProgress } from './graph';

export const MAX_ITEMS = 10_000;

/** The literal list as text for the panel (JSON, which is YAML too). */
export function forEachText(v: unknown): string {
  return Array.isArray(v) ? JSON.stringify(v) : '';
}

export type Parsed = { ok: true; value: unknown[] } | { ok: false; error: string };

export function parseForEach(text: string): Parsed {
  let value: unknown;
  try {
    value = text.trim() ? YAML.parse(text) : [];
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  }
  if (!Array.isArray(value)) return { ok: false, error: 'Items are a list: [a, b] or one "- item" per line' };
  if (value.length > MAX_ITEMS) return { ok: false, error: `At most ${MAX_ITEMS} items (${value.length} given)` };
  return { ok: true, value };
}

const INSTANCE_ID = /^(.+)\[(\d+)\]$/;

/**
 * The fan-out step and item index of an instance. The run's step rows say it (`parent`,
 * `item_index`); an event of an instance not fetched yet has only its id, which says it too (a step
 * id never holds brackets).
 */
export function instanceOf(step: { id: string; parent?: string | null; item_index?: number | null }): { parent: string; index: number } | null {
  if (step.parent) return { parent: step.parent, index: step.item_index ?? Number(INSTANCE_ID.exec(step.id)?.[2] ?? 0) };
  const m = INSTANCE_ID.exec(step.id);
  return m ? { parent: m[1], index: Number(m[2]) } : null;
}

export interface FanItem {
  id: string;
  index: number;
  state: StepState;
}

export interface FanOut {
  /** Items by index; an index not seen yet is absent. */
  items: FanItem[];
  progress: FanProgress;
}

const TERMINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);
const ACTIVE: ReadonlySet<string> = new Set(['running', 'retrying', 'awaiting_approval']);

/**
 * Every fan-out of a run, in one pass over its steps: the items of each and how far it came
 * ("37/100": items terminal / items). `expected` is what the aggregate's `step.started` announced
 * (`{items: n}`), so the total is right before every instance has been seen.
 */
export function fanOutsOf(
  order: readonly string[],
  steps: Readonly<Record<string, { id: string; state: StepState; parent?: string | null; item_index?: number | null }>>,
  expected: Readonly<Record<string, number>> = {},
): Map<string, FanOut> {
  const out = new Map<string, FanOut>();
  for (const id of order) {
    const s = steps[id];
    const inst = s && instanceOf(s);
    if (!inst) continue;
    let f = out.get(inst.parent);
    if (!f) {
      f = { items: [], progress: { total: 0, done: 0, succeeded: 0, failed: 0, cancelled: 0, running: 0 } };
      out.set(inst.parent, f);
    }
    f.items.push({ id, index: inst.index, state: s.state });
    const p = f.progress;
    if (TERMINAL.has(s.state)) p.done++;
    if (s.state === 'succeeded') p.succeeded++;
    else if (s.state === 'failed') p.failed++;
    else if (s.state === 'cancelled') p.cancelled++;
    else if (ACTIVE.has(s.state)) p.running++;
  }
  for (const parent of Object.keys(expected)) {
    if (!out.has(parent)) out.set(parent, { items: [], progress: { total: 0, done: 0, succeeded: 0, failed: 0, cancelled: 0, running: 0 } });
  }
  for (const [parent, f] of out) {
    const total = Math.max(f.items.length, Math.min(expected[parent] ?? 0, MAX_ITEMS));
    // Items announced but not seen yet (no event of theirs so far) wait: draw them as pending.
    if (f.items.length < total) {
      const seen = new Set(f.items.map((i) => i.index));
      for (let i = 0; i < total; i++) if (!seen.has(i)) f.items.push({ id: `${parent}[${i}]`, index: i, state: 'pending' });
    }
    f.items.sort((a, b) => a.index - b.index);
    f.progress.total = total;
  }
  return out;
}

export function isInstance(step: { id: string; parent?: string | null }): boolean {
  return instanceOf(step) !== null;
}
