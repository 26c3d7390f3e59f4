// The new components rendered to HTML (no DOM needed): the per-item grid, the stacked fan-out node,
// the sub-workflow node and the run node's progress.
import { describe, expect, it } from 'vitest';
import { renderToStaticMarkup } from 'react-dom/server';
import { ReactFlowProvider, type NodeProps } from '@xyflow/react';
import type { ReactElement } from 'react';
import { FanOutGrid } from './FanOutGrid';
import { RunNodeView, StepNodeView, WorkflowNodeView } from './nodes';
import { fanOutsOf } from '../lib/fanout';
import type { RunNode, StepNode, WorkflowNode } from '../lib/graph';
import type { StepState } from '../api/types';

const html = (el: ReactElement) => renderToStaticMarkup(<ReactFlowProvider>{el}</ReactFlowProvider>);
const props = <N extends StepNode | WorkflowNode | RunNode>(data: N['data']) => ({ id: 'n', data, selected: false }) as unknown as NodeProps<N>;

function fan(n: number, done: number) {
  const steps: Record<string, { id: string; state: StepState; parent: string; item_index: number }> = {};
  for (let i = 0; i < n; i++) steps[`greet[${i}]`] = { id: `greet[${i}]`, state: i < done ? 'succeeded' : i < done + 3 ? 'running' : 'pending', parent: 'greet', item_index: i };
  return fanOutsOf(Object.keys(steps), steps).get('greet')!;
}

describe('FanOutGrid', () => {
  it('shows progress and one cell per item, coloured by state', () => {
    const out = html(<FanOutGrid stepId="greet" fan={fan(100, 37)} selected={null} onOpen={() => undefined} />);
    expect(out).toContain('data-testid="fan-count-greet">37/100<');
    expect(out.match(/class="fan-cell /g)).toHaveLength(100);
    expect(out.match(/fan-cell state-succeeded/g)).toHaveLength(37);
    expect(out).toContain('3 running');
    expect(out).toContain('Item #'); // a large fan: open an item by its number
  });

  it('renders 1,000 items as plain cells quickly', () => {
    const t = performance.now();
    const out = html(<FanOutGrid stepId="greet" fan={fan(1000, 500)} selected={null} onOpen={() => undefined} />);
    expect(out.match(/class="fan-cell /g)).toHaveLength(1000);
    expect(performance.now() - t).toBeLessThan(500);
  });

  it('a small fan numbers its cells and makes them tab stops', () => {
    const out = html(<FanOutGrid stepId="greet" fan={fan(5, 5)} selected="greet[2]" onOpen={() => undefined} />);
    expect(out).toContain('fan-grid roomy');
    expect(out).toContain('fan-cell state-succeeded selected');
    expect(out).not.toContain('Item #');
  });
});

describe('nodes', () => {
  const base = { title: 'Greet', plugin: 'hello', errors: [], unknownType: false, vertical: false };
  it('a for_each step is a stacked node with its item-count badge', () => {
    const listed = html(<StepNodeView {...props<StepNode>({ ...base, lane: 'main', step: { id: 'g', uses: 'hello/greet', for_each: ['a', 'b', 'c'] } })} />);
    expect(listed).toContain('node node-step stacked');
    expect(listed).toMatch(/data-testid="fan-badge-g"[^>]*>×3</);
    const expr = html(<StepNodeView {...props<StepNode>({ ...base, lane: 'main', step: { id: 'g', uses: 'hello/greet', for_each: '${{ params.names }}' } })} />);
    expect(expr).toMatch(/>for each</);
    const plain = html(<StepNodeView {...props<StepNode>({ ...base, lane: 'finally', step: { id: 'g', uses: 'hello/greet' } })} />);
    expect(plain).not.toContain('stacked');
    expect(plain).toContain('in-finally');
  });

  it('a workflow/<name> step reads as a sub-workflow', () => {
    const out = html(<WorkflowNodeView {...props<WorkflowNode>({ ...base, lane: 'main', step: { id: 'pub', uses: 'workflow/publish.package' } })} />);
    expect(out).toContain('data-kind="workflow"');
    expect(out).toContain('↳ <strong>publish.package</strong>');
  });

  it('a run node shows a fan-out\'s progress and links a sub-workflow to its child run', () => {
    const run = { title: '', state: 'running' as const, attempt: 1, durationMs: 1000, dryRun: false, vertical: false, lane: 'main' as const, childRunId: null };
    const fanned = html(<RunNodeView {...props<RunNode>({ ...run, step: { id: 'g', uses: 'hello/greet', for_each: '${{ x }}' }, progress: fan(100, 37).progress })} />);
    expect(fanned).toMatch(/data-testid="fan-progress-g"[^>]*>37\/100</);
    expect(fanned).toContain('stacked');
    const child = html(<RunNodeView {...props<RunNode>({ ...run, step: { id: 'p', uses: 'workflow/pub' }, progress: null, childRunId: 'c-1' })} />);
    expect(child).toContain('href="#/runs/c-1"');
  });
});

describe('compensation on the graph', () => {
  const design = { title: 'Create tag', plugin: 'git', errors: [], unknownType: false, lane: 'main' as const };
  const undo = { id: 'tag', uses: 'git/tag', compensate: { uses: 'git/delete-tag', with: { name: 'v1' } } };

  it('a step with compensate has a dashed companion naming its undo step, beside it when the graph flows down', () => {
    const across = html(<StepNodeView {...props<StepNode>({ ...design, vertical: false, step: undo })} />);
    expect(across).toMatch(/class="compensate-companion"[^>]*data-testid="compensate-tag"/);
    expect(across).toContain('git/delete-tag');
    const down = html(<StepNodeView {...props<StepNode>({ ...design, vertical: true, step: undo })} />);
    expect(down).toContain('compensate-companion beside');
    const none = html(<StepNodeView {...props<StepNode>({ ...design, vertical: false, step: { id: 'b', uses: 'git/tag' } })} />);
    expect(none).not.toContain('compensate-companion');
  });

  it('a run node\'s companion shows how the unwind went', () => {
    const run = { title: '', attempt: 1, durationMs: 10, dryRun: false, vertical: false, lane: 'main' as const, childRunId: null, progress: null };
    const undoing = html(<RunNodeView {...props<RunNode>({ ...run, state: 'succeeded', step: undo, compensation: 'compensating' })} />);
    expect(undoing).toContain('compensation-compensating');
    expect(undoing).toContain('undoing…');
    const undone = html(<RunNodeView {...props<RunNode>({ ...run, state: 'compensated', step: undo, compensation: 'compensated' })} />);
    expect(undone).toContain('state-compensated');
    expect(undone).toMatch(/data-compensation="compensated"/);
    const failed = html(<RunNodeView {...props<RunNode>({ ...run, state: 'succeeded', step: undo, compensation: 'failed' })} />);
    expect(failed).toContain('undo failed');
  });
});
