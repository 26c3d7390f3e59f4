import { describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../api/types';
import { diffVersions, mergedForDiff, showValue } from './versionDiff';

const wf = (steps: WorkflowDefinition['spec']['steps'], extra: Partial<WorkflowDefinition['spec']> = {}, positions: Record<string, { x: number; y: number }> = {}): WorkflowDefinition =>
  ({ apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: 'w' }, spec: { steps, ...extra }, ui: { positions } });

const v1 = wf([
  { id: 'a', uses: 'core/noop' },
  { id: 'b', uses: 'core/log', needs: ['a'], with: { message: 'hi', level: 'info' } },
  { id: 'c', uses: 'core/noop', needs: ['a'] },
], {}, { a: { x: 0, y: 0 }, b: { x: 200, y: 0 }, c: { x: 200, y: 100 } });
const v2 = wf([
  { id: 'a', uses: 'core/noop' },
  { id: 'b', uses: 'core/log', needs: ['a'], with: { level: 'info', message: 'hello' }, timeout: '5m' },
  { id: 'd', uses: 'core/noop', needs: ['b'] },
], { parameters: { type: 'object' } }, { a: { x: 10, y: 0 }, b: { x: 200, y: 0 }, d: { x: 400, y: 0 } });

describe('version diff', () => {
  it('finds added, removed and changed steps with each changed field, old → new; a move is no change', () => {
    const d = diffVersions(v1, v2);
    expect(d.steps.map((s) => [s.id, s.change])).toEqual([['a', 'same'], ['b', 'changed'], ['d', 'added'], ['c', 'removed']]);
    expect(d.steps[1].fields).toEqual([
      { field: 'timeout', before: undefined, after: '5m' },
      { field: 'with.message', before: 'hi', after: 'hello' },
    ]);
    expect(d.workflow).toEqual([{ field: 'spec.parameters', before: undefined, after: { type: 'object' } }]);
  });

  it('diffs the edges, ignores the order of needs, and sees a step change lanes', () => {
    const d = diffVersions(v1, v2);
    expect(d.edges.map((e) => [e.id, e.change])).toEqual([['a->b', 'same'], ['b->d', 'added'], ['a->c', 'removed']]);
    const x = wf([{ id: 'p', uses: 'core/noop' }, { id: 'q', uses: 'core/noop' }, { id: 'r', uses: 'core/noop', needs: ['p', 'q'] }]);
    const y = wf([{ id: 'p', uses: 'core/noop' }, { id: 'q', uses: 'core/noop' }, { id: 'r', uses: 'core/noop', needs: ['q', 'p'] }]);
    expect(diffVersions(x, y).steps.every((s) => s.change === 'same')).toBe(true);
    const z = wf([{ id: 'p', uses: 'core/noop' }, { id: 'q', uses: 'core/noop' }], { finally: [{ id: 'r', uses: 'core/noop' }] });
    const r = diffVersions(x, z).steps.find((s) => s.id === 'r')!;
    expect(r.change).toBe('changed');
    expect(r.fields[0]).toEqual({ field: 'lane', before: 'main', after: 'finally' });
    expect(diffVersions(v1, v1).steps.every((s) => s.change === 'same')).toBe(true);
  });

  it('draws the newer version plus the removed steps at their old place', () => {
    const m = mergedForDiff(v1, v2);
    expect(m.spec.steps.map((s) => s.id)).toEqual(['a', 'b', 'd', 'c']);
    expect(m.ui?.positions?.c).toEqual({ x: 200, y: 100 });
    expect(m.ui?.positions?.a).toEqual({ x: 10, y: 0 });
    expect(showValue(undefined)).toBe('—');
    expect(showValue('rc')).toBe('"rc"');
    expect(showValue({ b: 1, a: [2] })).toBe('{"a":[2],"b":1}');
  });
});
