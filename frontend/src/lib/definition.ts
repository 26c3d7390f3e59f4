// Pure edits of a workflow definition. The definition is the single source of truth: the canvas
// and the YAML view are both projections of it, so either may change it.
import type { ConcurrencySpec, Lane, OnConflict, Position, StepDefinition, WorkflowDefinition } from '../api/types';
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
    spec: {
      ...spec,
      steps: Array.isArray(spec.steps) ? spec.steps : [],
      ...(spec.finally !== undefined ? { finally: Array.isArray(spec.finally) ? spec.finally : [] } : {}),
    },
  } as WorkflowDefinition;
}

/** `spec.finally`, or none. */
export function finallyOf(def: WorkflowDefinition): StepDefinition[] {
  return Array.isArray(def.spec.finally) ? def.spec.finally : [];
}

/** Every step of both lanes: ids are unique across them, so most edits need not care which lane. */
export function allSteps(def: WorkflowDefinition): StepDefinition[] {
  const fin = finallyOf(def);
  return fin.length ? [...def.spec.steps, ...fin] : def.spec.steps;
}

export function laneOf(def: WorkflowDefinition, id: string): Lane | null {
  if (def.spec.steps.some((s) => s.id === id)) return 'main';
  return finallyOf(def).some((s) => s.id === id) ? 'finally' : null;
}

/** The definition with new lists of main and finally steps (an empty `finally` is dropped). */
function withLanes(def: WorkflowDefinition, steps: StepDefinition[], fin: StepDefinition[]): WorkflowDefinition {
  const { finally: _old, ...spec } = def.spec;
  return { ...def, spec: fin.length ? { ...spec, steps, finally: fin } : { ...spec, steps } };
}

/** Applies `fn` to the steps of both lanes, each staying in its lane. */
function mapSteps(def: WorkflowDefinition, fn: (s: StepDefinition) => StepDefinition): WorkflowDefinition {
  return withLanes(def, def.spec.steps.map(fn), finallyOf(def).map(fn));
}

export function positionsOf(def: WorkflowDefinition): Record<string, Position> {
  return def.ui?.positions ?? {};
}


export function setPositions(def: WorkflowDefinition, positions: Record<string, Position>): WorkflowDefinition {
  const merged: Record<string, Position> = { ...positionsOf(def) };
  for (const [id, p] of Object.entries(positions)) merged[id] = { x: Math.round(p.x), y: Math.round(p.y) };
  return { ...def, ui: { ...(def.ui ?? {}), positions: merged } };
}

/** A readable id derived from the step type: `git/tag` → `tag`, `tag-2`, ... */
export function uniqueStepId(def: WorkflowDefinition, uses: string): string {
  const base = (uses.split('/').pop() ?? 'step').replace(/[^a-zA-Z0-9_-]/g, '-').toLowerCase() || 'step';
  const taken = new Set(allSteps(def).map((s) => s.id));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

export function addStep(
  def: WorkflowDefinition,
  uses: string,
  position: Position,
  init: Partial<StepDefinition> = {},
  lane: Lane = 'main',
): { definition: WorkflowDefinition; id: string } {
  const id = uniqueStepId(def, uses);
  const step: StepDefinition = { id, uses, ...init };
  const lanes = lane === 'main' ? withLanes(def, [...def.spec.steps, step], finallyOf(def)) : withLanes(def, def.spec.steps, [...finallyOf(def), step]);
  return { definition: setPositions(lanes, { [id]: position }), id };
}

export function removeSteps(def: WorkflowDefinition, ids: Iterable<string>): WorkflowDefinition {
  const gone = new Set(ids);
  const keep = (list: StepDefinition[]) => list
    .filter((s) => !gone.has(s.id))
    .map((s) => (s.needs?.some((n) => gone.has(n)) ? pruneNeeds(s, s.needs.filter((n) => !gone.has(n))) : s));
  const positions = Object.fromEntries(Object.entries(positionsOf(def)).filter(([id]) => !gone.has(id)));
  return { ...withLanes(def, keep(def.spec.steps), keep(finallyOf(def))), ui: { ...(def.ui ?? {}), positions } };
}

function pruneNeeds(step: StepDefinition, needs: string[]): StepDefinition {
  const { needs: _old, ...rest } = step;
  return needs.length ? { ...rest, needs } : rest;
}

/** True when `from` is reachable from `to` along needs edges (adding to→from would close a cycle). */
export function dependsOn(def: WorkflowDefinition, step: string, ancestor: string): boolean {
  const byId = new Map(allSteps(def).map((s) => [s.id, s]));
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

/**
 * An edge source → target means `target.needs` contains `source`. Needs stay inside a lane: a
 * finally step needs only finally steps, and a main step cannot wait for the clean-up.
 */
export function connect(def: WorkflowDefinition, source: string, target: string): ConnectResult {
  if (source === target) return { ok: false, reason: 'A step cannot depend on itself' };
  const t = allSteps(def).find((s) => s.id === target);
  const sourceLane = laneOf(def, source);
  if (!t || !sourceLane) return { ok: false, reason: 'Unknown step' };
  const targetLane = laneOf(def, target);
  if (sourceLane !== targetLane) {
    return { ok: false, reason: targetLane === 'finally'
      ? `A finally step needs only other finally steps (${target} runs after every main step anyway)`
      : `A main step cannot need a finally step (${source} runs after the main steps)` };
  }
  if (t.needs?.includes(source)) return { ok: false, reason: `${target} already needs ${source}` };
  if (dependsOn(def, source, target)) return { ok: false, reason: `That would create a cycle (${source} already needs ${target})` };
  return { ok: true, definition: mapSteps(def, (s) => (s.id === target ? { ...s, needs: [...(s.needs ?? []), source] } : s)) };
}

export function disconnect(def: WorkflowDefinition, source: string, target: string): WorkflowDefinition {
  return mapSteps(def, (s) =>
    s.id === target && s.needs?.includes(source) ? pruneNeeds(s, s.needs.filter((n) => n !== source)) : s,
  );
}

// An empty `for_each` list is meaningful (the step succeeds at once); an empty `needs` is not.
const KEEP_EMPTY = new Set(['for_each']);

export function updateStep(def: WorkflowDefinition, id: string, patch: Partial<StepDefinition>): WorkflowDefinition {
  return mapSteps(def, (s) => {
    if (s.id !== id) return s;
    const next: StepDefinition = { ...s, ...patch };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0 && !KEEP_EMPTY.has(k))) delete next[k];
    }
    return next;
  });
}

/**
 * Moves a step to the other lane. Needs across lanes are not allowed, so the step's needs and the
 * needs on it from its old lane are dropped.
 */
export function moveToLane(def: WorkflowDefinition, id: string, lane: Lane): WorkflowDefinition {
  const from = laneOf(def, id);
  if (!from || from === lane) return def;
  const step = allSteps(def).find((s) => s.id === id)!;
  const moved = step.needs ? pruneNeeds(step, []) : step;
  const unlink = (list: StepDefinition[]) => list.filter((s) => s.id !== id)
    .map((s) => (s.needs?.includes(id) ? pruneNeeds(s, s.needs.filter((n) => n !== id)) : s));
  const steps = unlink(def.spec.steps);
  const fin = unlink(finallyOf(def));
  return lane === 'finally' ? withLanes(def, steps, [...fin, moved]) : withLanes(def, [...steps, moved], fin);
}

const STEP_ID = /^[a-zA-Z][a-zA-Z0-9_-]*$/;

export function checkStepId(def: WorkflowDefinition, oldId: string, newId: string): string | null {
  if (!STEP_ID.test(newId)) return 'Use letters, digits, - and _, starting with a letter';
  if (newId !== oldId && allSteps(def).some((s) => s.id === newId)) return `A step named ${newId} exists`;
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
  const renamed = mapSteps(def, (s) => {
    const step = rewrite({ ...s, id: s.id === oldId ? newId : s.id }) as StepDefinition;
    if (step.needs) step.needs = step.needs.map((n) => (n === oldId ? newId : n));
    return step;
  });
  const positions = Object.fromEntries(
    Object.entries(positionsOf(def)).map(([id, p]) => [id === oldId ? newId : id, p]),
  );
  const outputs = def.spec.outputs && typeof def.spec.outputs === 'object' ? rewrite(def.spec.outputs) as Record<string, unknown> : undefined;
  return { ...renamed, spec: { ...renamed.spec, ...(outputs ? { outputs } : {}) }, ui: { ...(def.ui ?? {}), positions } };
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

// --- spec.outputs ----------------------------------------------------------------------------
export const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

export function outputsOf(def: WorkflowDefinition): Record<string, unknown> {
  const o = def.spec.outputs;
  return o && typeof o === 'object' && !Array.isArray(o) ? o : {};
}

/** Replaces `spec.outputs` (in the given order); an empty mapping removes the key. */
export function setOutputs(def: WorkflowDefinition, outputs: Record<string, unknown>): WorkflowDefinition {
  const { outputs: _old, ...spec } = def.spec;
  return { ...def, spec: Object.keys(outputs).length ? { ...spec, steps: def.spec.steps, outputs } : { ...spec, steps: def.spec.steps } };
}

export function checkOutputName(outputs: Record<string, unknown>, oldName: string | null, name: string): string | null {
  if (!OUTPUT_NAME.test(name)) return 'Letters, digits, _ and -, starting with a letter or _ (at most 64)';
  if (name !== oldName && Object.prototype.hasOwnProperty.call(outputs, name)) return `An output named ${name} exists`;
  return null;
}

/**
 * An output value as typed: JSON when it parses (`3`, `true`, `["a"]`, `"3"`), the text itself
 * otherwise (`${{ steps.bump.outputs.version }}`, `v1`).
 */
export function parseOutputValue(text: string): unknown {
  if (text.includes('${{')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function formatOutputValue(v: unknown): string {
  if (typeof v === 'string') {
    // A string that would read back as another JSON value keeps its quotes.
    return parseOutputValue(v) === v ? v : JSON.stringify(v);
  }
  return JSON.stringify(v);
}

// --- for_each --------------------------------------------------------------------------------
/** A literal list's length, `'expression'` for `${{ }}`, or null for a step that does not fan out. */
export function fanOutOf(step: Pick<StepDefinition, 'for_each'>): number | 'expression' | null {
  const f = step.for_each;
  if (Array.isArray(f)) return f.length;
  if (typeof f === 'string') return 'expression';
  return null;
}

export function isSubWorkflow(uses: string): boolean {
  return uses.startsWith('workflow/');
}

export function subWorkflowName(uses: string): string {
  return uses.slice('workflow/'.length);
}
