import { describe, expect, it } from 'vitest';
import { addStep, connect, disconnect, downstreamOf, emptyDefinition, removeSteps, renameStep, updateStep, checkStepId } from './definition';
import { designNodesOf, edgesOf, needsLayout } from './graph';
import type { WorkflowDefinition } from '../api/types';

function sample(): WorkflowDefinition {
  const d = emptyDefinition('rel');
  d.spec.steps = [
    { id: 'a', uses: 'core/noop' },
    { id: 'b', uses: 'core/approval', needs: ['a'] },
    { id: 'c', uses: 'git/tag', needs: ['b'], with: { name: '${{ steps.b.outputs.comment }}' } },
  ];
  d.ui = { positions: { a: { x: 0, y: 0 }, b: { x: 300, y: 0 }, c: { x: 600, y: 0 } } };
  return d;
}

describe('definition edits', () => {
  it('adds a step with a unique id derived from its type and stores its position', () => {
    const d0 = sample();
    const { definition, id } = addStep(d0, 'core/noop', { x: 10.4, y: 20.6 });
    expect(id).toBe('noop');
    const again = addStep(definition, 'core/noop', { x: 0, y: 0 });
    expect(again.id).toBe('noop-2');
    expect(definition.ui?.positions?.noop).toEqual({ x: 10, y: 21 });
    expect(d0.spec.steps).toHaveLength(3); // inputs are never mutated
  });

  it('connects steps as needs entries and refuses self-loops, duplicates and cycles', () => {
    const d = sample();
    const r = connect(d, 'a', 'c');
    expect(r.ok && r.definition.spec.steps[2].needs).toEqual(['b', 'a']);
    expect(connect(d, 'a', 'a').ok).toBe(false);
    expect(connect(d, 'a', 'b').ok).toBe(false);
    const cyc = connect(d, 'c', 'a');
    expect(cyc.ok).toBe(false);
    if (!cyc.ok) expect(cyc.reason).toMatch(/cycle/);
  });

  it('disconnect removes the needs entry and drops an empty list', () => {
    const d = disconnect(sample(), 'a', 'b');
    expect(d.spec.steps[1].needs).toBeUndefined();
  });

  it('removing a step removes it from needs and positions', () => {
    const d = removeSteps(sample(), ['b']);
    expect(d.spec.steps.map((s) => s.id)).toEqual(['a', 'c']);
    expect(d.spec.steps[1].needs).toBeUndefined();
    expect(d.ui?.positions?.b).toBeUndefined();
  });

  it('renaming rewrites needs, positions and step references in expressions', () => {
    const d = renameStep(sample(), 'b', 'gate');
    expect(d.spec.steps[1].id).toBe('gate');
    expect(d.spec.steps[2].needs).toEqual(['gate']);
    expect(d.spec.steps[2].with?.name).toBe('${{ steps.gate.outputs.comment }}');
    expect(d.ui?.positions?.gate).toEqual({ x: 300, y: 0 });
    expect(checkStepId(d, 'a', 'gate')).toMatch(/exists/);
    expect(checkStepId(d, 'a', '9x')).toMatch(/letter/);
  });

  it('updateStep removes cleared fields', () => {
    const d = updateStep(sample(), 'c', { if: '', timeout: '30s', optional: undefined });
    expect(d.spec.steps[2]).not.toHaveProperty('if');
    expect(d.spec.steps[2].timeout).toBe('30s');
  });

  it('finds the steps downstream of a gate', () => {
    expect(downstreamOf(sample().spec.steps, 'a')).toEqual(['b', 'c']);
    expect(downstreamOf(sample().spec.steps, 'c')).toEqual([]);
  });
});

describe('definition → graph', () => {
  it('makes one node per step (approval as a gate) and one edge per needs entry', () => {
    const d = sample();
    const types = new Map([['core/noop', { title: 'No-op', plugin: 'core' }]]);
    const nodes = designNodesOf(d, types, new Map([['a', ['bad']]]));
    expect(nodes.map((n) => [n.id, n.type])).toEqual([['a', 'step'], ['b', 'gate'], ['c', 'step']]);
    expect(nodes[0].data.errors).toEqual(['bad']);
    expect(nodes[0].data.title).toBe('No-op');
    expect(nodes[2].data.unknownType).toBe(true);
    expect(nodes[1].position).toEqual({ x: 300, y: 0 });
    expect(edgesOf(d).map((e) => e.id)).toEqual(['a->b', 'b->c']);
  });

  it('ignores needs that point to missing steps and detects missing positions', () => {
    const d = sample();
    d.spec.steps[0].needs = ['ghost'];
    expect(edgesOf(d)).toHaveLength(2);
    expect(needsLayout(d)).toBe(false);
    d.ui = {};
    expect(needsLayout(d)).toBe(true);
  });
});

describe('node reconciliation', () => {
  it('reuses unchanged nodes, keeps measured sizes of changed ones, and returns prev when nothing changed', async () => {
    const { reconcileNodes } = await import('./graph');
    const d = sample();
    const types = new Map();
    const first = designNodesOf(d, types, new Map()).map((n) => ({ ...n, measured: { width: 220, height: 64 } }));
    expect(reconcileNodes(first, designNodesOf(d, types, new Map()))).toBe(first);
    const next = reconcileNodes(first, designNodesOf(d, types, new Map([['b', ['oops']]])));
    expect(next[0]).toBe(first[0]);
    expect(next[1]).not.toBe(first[1]);
    expect(next[1].measured).toEqual({ width: 220, height: 64 });
    expect(next[1].data.errors).toEqual(['oops']);
  });
});
