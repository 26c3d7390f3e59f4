// Pure edits of a workflow definition. The definition is the single source of truth: the canvas
// and the YAML view are both projections of it, so either may change it.
import type { ConcurrencySpec, OnConflict, Position, StepDefinition, WorkflowDefinition } from '../api/types';
import { ON_CONFLICT_VALUES } from '../api/types';

export function emptyDefinition(name = 'new-workflow'): WorkflowDefinition {
  return {
    apiVersion: 'vwmp/v1',
    kind: 'Workflow',
    metadata: { name, description: '' },
    spec: { parameters: { type: 'object', properties: {} }, steps: [] },
    ui: { positions: {} },
  };
}

/** Defensive normalisation of anything parsed from YAML or received from the server. */
export function normalizeDefinition(raw: unknown): WorkflowDefinition {
  const d = (raw && typeof raw === 'object' ? raw : {}) as Partial<WorkflowDefinition>;
  const spec = (d.spec && typeof d.spec === 'object' ? d.spec : {}) as WorkflowDefinition['spec'];
  return {
    ...d,
    apiVersion: d.apiVersion ?? 'vwmp/v1',
    kind: d.kind ?? 'Workflow',
    metadata: { ...(d.metadata ?? {}), name: d.metadata?.name ?? '' },
    spec: { ...spec, steps: Array.isArray(spec.steps) ? spec.steps : [] },
  } as WorkflowDefinition;
}

export function positionsOf(def: WorkflowDefinition): Record<string, Position> {
  return def.ui?.positions ?? {};
}

function withSteps(def: WorkflowDefinition, steps: StepDefinition[]): WorkflowDefinition {
  return { ...def, spec: { ...def.spec, steps } };
}

export function setPositions(def: WorkflowDefinition, positions: Record<string, Position>): WorkflowDefinition {
  const merged: Record<string, Position> = { ...positionsOf(def) };
  for (const [id, p] of Object.entries(positions)) merged[id] = { x: Math.round(p.x), y: Math.round(p.y) };
  return { ...def, ui: { ...(def.ui ?? {}), positions: merged } };
}

/** A readable id derived from the step type: `git/tag` → `tag`, `tag-2`, ... */
export function uniqueStepId(def: WorkflowDefinition, uses: string): string {
  const base = (uses.split('/').pop() ?? 'step').replace(/[^a-zA-Z0-9_-]/g, '-').toLowerCase() || 'step';
  const taken = new Set(def.spec.steps.map((s) => s.id));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

export function addStep(
  def: WorkflowDefinition,
  uses: string,
  position: Position,
  init: Partial<StepDefinition> = {},
): { definition: WorkflowDefinition; id: string } {
  const id = uniqueStepId(def, uses);
  const step: StepDefinition = { id, uses, ...init };
  const next = setPositions(withSteps(def, [...def.spec.steps, step]), { [id]: position });
  return { definition: next, id };
}

export function removeSteps(def: WorkflowDefinition, ids: Iterable<string>): WorkflowDefinition {
  const gone = new Set(ids);
  const steps = def.spec.steps
    .filter((s) => !gone.has(s.id))
    .map((s) => (s.needs?.some((n) => gone.has(n)) ? pruneNeeds(s, s.needs.filter((n) => !gone.has(n))) : s));
  const positions = Object.fromEntries(Object.entries(positionsOf(def)).filter(([id]) => !gone.has(id)));
  return { ...withSteps(def, steps), ui: { ...(def.ui ?? {}), positions } };
}

function pruneNeeds(step: StepDefinition, needs: string[]): StepDefinition {
  const { needs: _old, ...rest } = step;
  return needs.length ? { ...rest, needs } : rest;
}

/** True when `from` is reachable from `to` along needs edges (adding to→from would close a cycle). */
export function dependsOn(def: WorkflowDefinition, step: string, ancestor: string): boolean {
  const byId = new Map(def.spec.steps.map((s) => [s.id, s]));
  const seen = new Set<string>();
  const stack = [step];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === ancestor) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const n of byId.get(id)?.needs ?? []) stack.push(n);
  }
  return false;
}

export type ConnectResult = { ok: true; definition: WorkflowDefinition } | { ok: false; reason: string };

/** An edge source → target means `target.needs` contains `source`. */
export function connect(def: WorkflowDefinition, source: string, target: string): ConnectResult {
  if (source === target) return { ok: false, reason: 'A step cannot depend on itself' };
  const t = def.spec.steps.find((s) => s.id === target);
  if (!t || !def.spec.steps.some((s) => s.id === source)) return { ok: false, reason: 'Unknown step' };
  if (t.needs?.includes(source)) return { ok: false, reason: `${target} already needs ${source}` };
  if (dependsOn(def, source, target)) return { ok: false, reason: `That would create a cycle (${source} already needs ${target})` };
  const steps = def.spec.steps.map((s) => (s.id === target ? { ...s, needs: [...(s.needs ?? []), source] } : s));
  return { ok: true, definition: withSteps(def, steps) };
}

export function disconnect(def: WorkflowDefinition, source: string, target: string): WorkflowDefinition {
  const steps = def.spec.steps.map((s) =>
    s.id === target && s.needs?.includes(source) ? pruneNeeds(s, s.needs.filter((n) => n !== source)) : s,
  );
  return withSteps(def, steps);
}

export function updateStep(def: WorkflowDefinition, id: string, patch: Partial<StepDefinition>): WorkflowDefinition {
  const steps = def.spec.steps.map((s) => {
    if (s.id !== id) return s;
    const next: StepDefinition = { ...s, ...patch };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) delete next[k];
    }
    return next;
  });
  return withSteps(def, steps);
}

const STEP_ID = /^[a-zA-Z][a-zA-Z0-9_-]*$/;

export function checkStepId(def: WorkflowDefinition, oldId: string, newId: string): string | null {
  if (!STEP_ID.test(newId)) return 'Use letters, digits, - and _, starting with a letter';
  if (newId !== oldId && def.spec.steps.some((s) => s.id === newId)) return `A step named ${newId} exists`;
  return null;
}

/** Renames a step everywhere it is referred to: needs, positions and `steps.<id>.` expressions. */
export function renameStep(def: WorkflowDefinition, oldId: string, newId: string): WorkflowDefinition {
  if (oldId === newId) return def;
  const ref = new RegExp(`(\\$\\{\\{[^}]*?\\bsteps\\.)${oldId.replace(/[-]/g, '\\-')}(?=\\.)`, 'g');
  const rewrite = (v: unknown): unknown => {
    if (typeof v === 'string') return v.includes('${{') ? v.replace(ref, `$1${newId}`) : v;
    if (Array.isArray(v)) return v.map(rewrite);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rewrite(x)]));
    return v;
  };
  const steps = def.spec.steps.map((s) => {
    const renamed = rewrite({ ...s, id: s.id === oldId ? newId : s.id }) as StepDefinition;
    if (renamed.needs) renamed.needs = renamed.needs.map((n) => (n === oldId ? newId : n));
    return renamed;
  });
  const positions = Object.fromEntries(
    Object.entries(positionsOf(def)).map(([id, p]) => [id === oldId ? newId : id, p]),
  );
  return { ...withSteps(def, steps), ui: { ...(def.ui ?? {}), positions } };
}

/** Steps reachable downstream of `id` (used to show the plans behind an approval gate). */
export function downstreamOf(steps: Pick<StepDefinition, 'id' | 'needs'>[], id: string): string[] {
  const children = new Map<string, string[]>();
  for (const s of steps) for (const n of s.needs ?? []) children.set(n, [...(children.get(n) ?? []), s.id]);
  const out: string[] = [];
  const seen = new Set<string>([id]);
  const queue = [...(children.get(id) ?? [])];
  while (queue.length) {
    const c = queue.shift()!;
    if (seen.has(c)) continue;
    seen.add(c);
    out.push(c);
    queue.push(...(children.get(c) ?? []));
  }
  return out;
}

/** `spec.concurrency` as the workflow panel edits it, or null when the workflow has no key. */
export function concurrencySpecOf(def: WorkflowDefinition): ConcurrencySpec | null {
  const c = def.spec.concurrency;
  if (!c || typeof c !== 'object' || Array.isArray(c)) return null;
  const raw = c as unknown as Record<string, unknown>;
  if (typeof raw.key !== 'string') return null;
  return {
    key: raw.key,
    ...(typeof raw.limit === 'number' ? { limit: raw.limit } : {}),
    ...(ON_CONFLICT_VALUES.includes(raw.on_conflict as OnConflict) ? { on_conflict: raw.on_conflict as OnConflict } : {}),
  };
}

/**
 * Sets `spec.concurrency` (a patch of key, limit, on_conflict). An empty key removes the whole
 * block: without a key there is nothing to queue on. Other fields of the block are kept as they are.
 */
export function setConcurrency(def: WorkflowDefinition, patch: Partial<ConcurrencySpec>): WorkflowDefinition {
  const current = (def.spec.concurrency && typeof def.spec.concurrency === 'object' ? def.spec.concurrency : {}) as Record<string, unknown>;
  const next: Record<string, unknown> = { ...current, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
  const { concurrency: _old, ...spec } = def.spec;
  if (typeof next.key !== 'string' || next.key.trim() === '') return { ...def, spec: spec as WorkflowDefinition['spec'] };
  return { ...def, spec: { ...spec, steps: def.spec.steps, concurrency: next as unknown as ConcurrencySpec } };
}
