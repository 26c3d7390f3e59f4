// What a first-time user sees of a run and a graph: why a run failed without a click, edges that
// point the way a dependency goes, and a step type's own icon.
import { describe, expect, it } from 'vitest';
import { MarkerType } from '@xyflow/react';
import { applyEvents, failuresOf, fromRun } from './runState';
import { designNodesOf, edgesOf, iconOf } from './graph';
import type { Run, RunEvent, WorkflowDefinition } from '../api/types';

const step = (id: string, state: Run['steps'][number]['state'], error: string | null = null, extra: Record<string, unknown> = {}) => ({
  id, uses: 'core/noop', state, attempt: 1, outputs: {}, error, started_at: null, finished_at: null, ...extra,
});
const run = (state: Run['state'], steps: Run['steps']): Run => ({
  id: 'r1', workflow: 'w', version: 1, state, parameters: {}, dry_run: false, created_by: 'ada', created_at: null,
  started_at: null, finished_at: null, concurrency: null, steps, step_counts: {},
});

describe('failuresOf', () => {
  it('names each failed step with its error, in the run\'s order', () => {
    const v = fromRun(run('failed', [step('lint', 'succeeded'), step('bump', 'failed', 'version files disagree: 0.4.1 and 0.4.0'), step('tag', 'skipped')]));
    expect(failuresOf(v)).toEqual([{ id: 'bump', error: 'version files disagree: 0.4.1 and 0.4.0', items: 0 }]);
  });

  it('folds a fan-out\'s failed items onto their step with the first error, and says when no error was recorded', () => {
    const v = fromRun(run('failed', [
      step('greet[0]', 'succeeded', null, { parent: 'greet', item_index: 0 }),
      step('greet[1]', 'failed', 'no such person', { parent: 'greet', item_index: 1 }),
      step('greet[2]', 'failed', 'timeout', { parent: 'greet', item_index: 2 }),
      step('notify', 'failed'),
    ]));
    expect(failuresOf(v)).toEqual([{ id: 'greet', error: 'no such person', items: 2 }, { id: 'notify', error: null, items: 0 }]);
  });

  it('takes the error from the step.failed event of a live run', () => {
    const v = applyEvents(fromRun(run('running', [step('push', 'running')])), [
      { seq: 1, run_id: 'r1', type: 'step.failed', step_id: 'push', attempt: 1, at: null, data: { error: 'remote rejected' } } as RunEvent,
    ]);
    expect(failuresOf(v)).toEqual([{ id: 'push', error: 'remote rejected', items: 0 }]);
  });
});

describe('edges and icons', () => {
  const def: WorkflowDefinition = {
    apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: 'w' },
    spec: { steps: [{ id: 'a', uses: 'git/branch' }, { id: 'b', uses: 'release/version-bump', needs: ['a'] }] },
  };

  it('every edge ends in an arrowhead at the step that needs the other', () => {
    const [e] = edgesOf(def);
    expect(e).toMatchObject({ source: 'a', target: 'b', markerEnd: { type: MarkerType.ArrowClosed } });
  });

  it('a step type\'s icon is an emoji or a data:image URI; anything else keeps the plugin code', () => {
    expect(iconOf('🏷️')).toBe('🏷️');
    expect(iconOf('data:image/svg+xml;base64,PHN2Zy8+')).toBe('data:image/svg+xml;base64,PHN2Zy8+');
    expect(iconOf('https://tracker.example/pixel.png')).toBeUndefined();
    expect(iconOf('javascript:alert(1)')).toBeUndefined();
    expect(iconOf('a long text')).toBeUndefined();
    expect(iconOf(42)).toBeUndefined();
    const nodes = designNodesOf(def, new Map([['git/branch', { title: 'Branch', plugin: 'git', icon: '🌿' }], ['release/version-bump', { title: 'Bump', plugin: 'release' }]]), new Map());
    expect(nodes.map((n) => n.data.icon)).toEqual(['🌿', undefined]);
  });
});
