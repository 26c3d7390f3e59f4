// What changed between two versions of a workflow, node by node: steps added, removed and changed
// (with each changed field, old → new), the edges (needs) added and removed, and the workflow-level
// settings that differ. Layout (`ui.positions`) is not a change. Kept free of React so it is unit-tested.
import type { Lane, Position, StepDefinition, WorkflowDefinition } from '../api/types';
import { allSteps, finallyOf, positionsOf } from './definition';

export type Change = 'added' | 'removed' | 'changed' | 'same';

export interface FieldChange {
  /** A dotted path inside the step (`with.repo`, `retry.max_attempts`, `needs`) or the spec (`spec.parameters`). */
  field: string;
  before: unknown;
  after: unknown;
}

export interface StepDiff {
  id: string;
  change: Change;
  lane: Lane;
  fields: FieldChange[];
}

export interface EdgeDiff {
  id: string;
  source: string;
  target: string;
  change: Exclude<Change, 'changed'>;
}

export interface VersionDiff {
  steps: StepDiff[];
  edges: EdgeDiff[];
  /** Settings outside the steps: metadata and spec keys other than steps and finally. */
  workflow: FieldChange[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Stable text of a value (object keys sorted), so `{a,b}` and `{b,a}` are the same. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'undefined';
}

/** Field-by-field differences: objects are walked down to their leaves, lists and scalars compared whole. */
export function fieldChanges(before: unknown, after: unknown, prefix = ''): FieldChange[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => fieldChanges(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return canonical(before) === canonical(after) ? [] : [{ field: prefix, before, after }];
}

function stepFields(s: StepDefinition): Record<string, unknown> {
  const { id: _id, needs, ...rest } = s;
  // `needs` order means nothing to the engine.
  return { ...rest, ...(needs?.length ? { needs: [...needs].sort() } : {}) };
}

function edgeSet(def: WorkflowDefinition): Map<string, { source: string; target: string }> {
  const steps = allSteps(def);
  const ids = new Set(steps.map((s) => s.id));
  const out = new Map<string, { source: string; target: string }>();
  for (const s of steps) for (const n of s.needs ?? []) if (ids.has(n)) out.set(`${n}->${s.id}`, { source: n, target: s.id });
  return out;
}

function laneMap(def: WorkflowDefinition): Map<string, Lane> {
  return new Map([...def.spec.steps.map((s) => [s.id, 'main'] as const), ...finallyOf(def).map((s) => [s.id, 'finally'] as const)]);
}

export function diffVersions(before: WorkflowDefinition, after: WorkflowDefinition): VersionDiff {
  const a = new Map(allSteps(before).map((s) => [s.id, s]));
  const b = new Map(allSteps(after).map((s) => [s.id, s]));
  const laneA = laneMap(before);
  const laneB = laneMap(after);
  const steps: StepDiff[] = [];
  for (const s of allSteps(after)) {
    const old = a.get(s.id);
    if (!old) { steps.push({ id: s.id, change: 'added', lane: laneB.get(s.id)!, fields: [] }); continue; }
    const fields = fieldChanges(stepFields(old), stepFields(s));
    if (laneA.get(s.id) !== laneB.get(s.id)) fields.unshift({ field: 'lane', before: laneA.get(s.id), after: laneB.get(s.id) });
    steps.push({ id: s.id, change: fields.length ? 'changed' : 'same', lane: laneB.get(s.id)!, fields });
  }
  for (const s of allSteps(before)) if (!b.has(s.id)) steps.push({ id: s.id, change: 'removed', lane: laneA.get(s.id)!, fields: [] });

  const ea = edgeSet(before);
  const eb = edgeSet(after);
  const edges: EdgeDiff[] = [
    ...[...eb].map(([id, e]) => ({ id, ...e, change: ea.has(id) ? 'same' as const : 'added' as const })),
    ...[...ea].filter(([id]) => !eb.has(id)).map(([id, e]) => ({ id, ...e, change: 'removed' as const })),
  ];

  const { steps: _s1, finally: _f1, ...specA } = before.spec;
  const { steps: _s2, finally: _f2, ...specB } = after.spec;
  const workflow = [...fieldChanges(before.metadata, after.metadata, 'metadata'), ...fieldChanges(specA, specB, 'spec')];
  return { steps, edges, workflow };
}

/**
 * The definition the canvas draws while comparing: the newer version's steps, plus the removed ones
 * (each at its old place, in its old lane), so both sides are seen in one graph.
 */
export function mergedForDiff(before: WorkflowDefinition, after: WorkflowDefinition): WorkflowDefinition {
  const keep = new Set(allSteps(after).map((s) => s.id));
  const gone = (list: StepDefinition[]) => list.filter((s) => !keep.has(s.id)).map((s) => ({ ...s, needs: [] }));
  const posA = positionsOf(before);
  const positions: Record<string, Position> = { ...positionsOf(after) };
  for (const s of allSteps(before)) if (!keep.has(s.id) && posA[s.id]) positions[s.id] = posA[s.id];
  const fin = [...finallyOf(after), ...gone(finallyOf(before))];
  return {
    ...after,
    spec: { ...after.spec, steps: [...after.spec.steps, ...gone(before.spec.steps)], ...(fin.length ? { finally: fin } : {}) },
    ui: { ...after.ui, positions },
  };
}

/** A value as one short line for the change list (`"rc"`, `3`, `["a","b"]`, `—` when unset). */
export function showValue(v: unknown): string {
  if (v === undefined) return '—';
  const t = typeof v === 'string' ? JSON.stringify(v) : canonical(v);
  return t.length > 80 ? `${t.slice(0, 77)}…` : t;
}
