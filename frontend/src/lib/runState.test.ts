import { describe, expect, it } from 'vitest';
import { applyEvent, applyEvents, fromRun, gatePlans, mergeRun, mergeRunSince, mergeOutputs, formatDuration, durationMs, retryOffered } from './runState';
import type { Run, RunEvent } from '../api/types';

const run: Run = {
  id: 'r1', workflow: 'w', version: 1, state: 'queued', parameters: {}, dry_run: false, created_by: 'ada', created_at: 't0',
  started_at: null, finished_at: null, concurrency: null, step_counts: {},
  steps: [
    { id: 'a', uses: 'core/noop', state: 'pending', attempt: 0, outputs: {}, error: null, started_at: null, finished_at: null },
    { id: 'gate', uses: 'core/approval', state: 'pending', attempt: 0, outputs: {}, error: null, started_at: null, finished_at: null },
    { id: 'push', uses: 'git/push', state: 'pending', attempt: 0, outputs: {}, error: null, started_at: null, finished_at: null },
  ],
};

let seq = 0;
function ev(type: RunEvent['type'], step_id: string | null = null, data: Record<string, unknown> = {}, attempt = 0): RunEvent {
  seq += 1;
  return { seq, run_id: 'r1', type, step_id, attempt, at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(), data };
}

describe('run-state reduction', () => {
  it('folds events into run and step states, attempts, outputs, logs and times', () => {
    seq = 0;
    const events = [
      ev('run.started'),
      ev('step.started', 'a', {}, 1),
      ev('step.log', 'a', { lines: [{ stream: 'stdout', line: 'hello' }] }, 1),
      ev('step.retrying', 'a', { error: 'boom' }, 1),
      ev('step.started', 'a', {}, 2),
      ev('step.succeeded', 'a', { outputs: { plan: [{ action: 'push', target: 'origin' }] } }, 2),
      ev('step.awaiting_approval', 'gate', { message: 'ok?', plan: [{ action: 'push', target: 'refs/tags/v1', step: 'push' }] }, 1),
    ];
    const v = applyEvents(fromRun(run), events);
    expect(v.state).toBe('running');
    expect(v.lastSeq).toBe(7);
    expect(v.steps.a).toMatchObject({ state: 'succeeded', attempt: 2, error: null });
    expect(v.steps.a.logs.map((l) => l.line)).toEqual(['hello']);
    expect(v.steps.a.started_at).toBe(events[1].at); // a retry keeps the first start
    expect(v.steps.a.finished_at).toBe(events[5].at);
    expect(v.steps.gate.state).toBe('awaiting_approval');
    expect(gatePlans(v, 'gate', ['push'])).toEqual([{ step: 'push', plan: [{ action: 'push', target: 'refs/tags/v1' }] }]);
  });

  it('ignores duplicates and replays (seq at or below the cursor), in any arrival order', () => {
    seq = 0;
    const e1 = ev('run.started');
    const e2 = ev('step.started', 'a', {}, 1);
    const e3 = ev('run.failed');
    const v = applyEvents(fromRun(run), [e3, e1, e2, e2]);
    expect(v.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(v.state).toBe('failed');
    expect(applyEvent(v, e2)).toBe(v);
    expect(v.run.finished_at).toBe(e3.at);
  });

  it('mergeRun takes fresh states and keeps logs and the cursor', () => {
    seq = 0;
    const v = applyEvents(fromRun(run), [ev('step.log', 'a', { lines: [{ stream: 'stdout', line: 'x' }] })]);
    const fresh = { ...run, state: 'running' as const, steps: run.steps.map((s) => ({ ...s, state: 'running' as const })) };
    const m = mergeRun(v, fresh);
    expect(m.steps.a.state).toBe('running');
    expect(m.steps.a.logs).toHaveLength(1);
    expect(m.lastSeq).toBe(1);
  });

  it('mergeRunSince keeps the live view when events arrived while the run was fetched', () => {
    seq = 0;
    const before = applyEvents(fromRun(run), [ev('step.started', 'gate'), ev('step.awaiting_approval', 'gate')]);
    // Fetched after the approval, answered after the stream already showed push succeed.
    const stale = { ...run, state: 'running' as const, steps: run.steps.map((s) => (s.id === 'gate' ? { ...s, state: 'succeeded' as const } : s.id === 'push' ? { ...s, state: 'running' as const } : s)) };
    const live = applyEvents(before, [ev('step.succeeded', 'gate'), ev('step.started', 'push'), ev('step.succeeded', 'push'), ev('run.succeeded')]);
    const kept = mergeRunSince(live, stale, before.lastSeq);
    expect(kept).toBe(live);
    expect(kept.steps.push.state).toBe('succeeded');
    expect(kept.state).toBe('succeeded');
    // Nothing arrived meanwhile: the fetched run is the newer truth.
    const merged = mergeRunSince(before, stale, before.lastSeq);
    expect(merged.steps.gate.state).toBe('succeeded');
    expect(merged.steps.push.state).toBe('running');
    expect(merged.lastSeq).toBe(before.lastSeq);
  });

  it('reads log lines in the gateway form and merges outputs from a fetched run', () => {
    seq = 0;
    const v = applyEvents(fromRun(run), [ev('step.log', 'a', { lines: [{ stream: 'info', line: 'one' }, { stream: 'stderr', line: 'two' }] }, 1)]);
    expect(v.steps.a.logs.map((l) => [l.stream, l.line, l.attempt])).toEqual([['info', 'one', 1], ['stderr', 'two', 1]]);
    const fetched = { ...run, steps: run.steps.map((s) => (s.id === 'a' ? { ...s, outputs: { greeting: 'hi' } } : s)) };
    const m = mergeOutputs(v, fetched);
    expect(m.steps.a.outputs).toEqual({ greeting: 'hi' });
    expect(m.steps.a.logs).toHaveLength(2);
    expect(mergeOutputs(m, fetched)).toBe(m);
  });

  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(450)).toBe('450 ms');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(125_000)).toBe('2m 5s');
    expect(durationMs('2025-01-01T00:00:00Z', '2025-01-01T00:00:02Z')).toBe(2000);
  });
});

describe('the unwind of a failed run', () => {
  it('shows each compensation as it goes and keeps the step outputs; the run says compensated', () => {
    seq = 0;
    const events = [
      ev('run.started'),
      ev('step.started', 'a', {}, 1),
      ev('step.succeeded', 'a', { outputs: { name: 'v1' } }, 1),
      ev('step.started', 'push', {}, 1),
      ev('step.failed', 'push', { error: 'refused' }, 1),
      ev('step.compensating', 'a', { uses: 'git/delete-tag', attempt: 1 }, 1),
    ];
    let v = applyEvents(fromRun(run), events);
    expect(v.steps.a).toMatchObject({ state: 'succeeded', compensation: 'compensating', outputs: { name: 'v1' } });
    v = applyEvents(v, [ev('step.compensated', 'a', { uses: 'git/delete-tag', attempt: 1, outputs: { deleted_local: true } }, 1),
      ev('run.failed', null, { failed_steps: ['push'], compensated: true })]);
    expect(v.steps.a).toMatchObject({ state: 'compensated', compensation: 'compensated', outputs: { name: 'v1' } });
    expect(v.state).toBe('failed');
    expect(v.run.compensated).toBe(true);
  });

  it('a failed compensation leaves the step succeeded with the reason, and the run partial', () => {
    seq = 0;
    const v = applyEvents(fromRun(run), [
      ev('run.started'), ev('step.started', 'a', {}, 1), ev('step.succeeded', 'a', {}, 1),
      ev('step.compensating', 'a', {}, 1), ev('step.compensation_failed', 'a', { error: 'no such tag', kind: 'error' }, 1),
      ev('run.failed', null, { compensated: 'partial' }),
    ]);
    expect(v.steps.a).toMatchObject({ state: 'succeeded', compensation: 'failed', error: 'compensation failed: no such tag' });
    expect(v.run.compensated).toBe('partial');
    const fetched = mergeOutputs(v, { ...run, state: 'failed', compensated: 'partial',
      steps: run.steps.map((s) => (s.id === 'a' ? { ...s, state: 'succeeded', compensation: 'failed' } : s)) });
    expect(fetched.steps.a.compensation).toBe('failed');
  });
});

describe('retryOffered', () => {
  it('offers a retry from failure for a failed or cancelled run, never for one whose unwind undid something', () => {
    const at = (state: Run['state'], compensated?: Run['compensated']) =>
      retryOffered(fromRun({ ...run, state, ...(compensated !== undefined ? { compensated } : {}) }));
    expect(at('failed')).toBe(true);
    expect(at('cancelled', null)).toBe(true);
    expect(at('failed', true)).toBe(false);
    expect(at('failed', 'partial')).toBe(false);
    expect(at('cancelled', true)).toBe(false);
    expect(at('succeeded')).toBe(false);
    expect(at('running')).toBe(false);
  });

  it('withdraws the offer once the live run.failed event says the run was compensated', () => {
    let v = fromRun({ ...run, state: 'running' });
    v = applyEvents(v, [ev('run.failed', null, { failed_steps: ['push'] })]);
    expect(retryOffered(v)).toBe(true);
    v = fromRun({ ...run, state: 'running' });
    v = applyEvents(v, [ev('run.failed', null, { failed_steps: ['push'], compensated: 'partial' })]);
    expect(retryOffered(v)).toBe(false);
  });
});

describe('a for_each step\'s unwind', () => {
  it('shows the step undoing from its first item on, and undone with its last', () => {
    const fanned: Run = { ...run, state: 'running', steps: [
      { id: 'tag', uses: 'git/tag', state: 'succeeded', attempt: 1, outputs: {}, error: null, started_at: null, finished_at: null },
      { id: 'tag[0]', uses: 'git/tag', state: 'succeeded', attempt: 1, outputs: { name: 'a@1' }, error: null, started_at: null, finished_at: null, parent: 'tag', item_index: 0 },
      { id: 'tag[1]', uses: 'git/tag', state: 'succeeded', attempt: 1, outputs: { name: 'b@1' }, error: null, started_at: null, finished_at: null, parent: 'tag', item_index: 1 },
    ] };
    let v = applyEvents(fromRun(fanned), [ev('step.compensating', 'tag[1]', { uses: 'git/delete-tag', attempt: 1, item_index: 1 }, 1)]);
    expect(v.steps.tag.compensation).toBe('compensating');
    expect(v.steps['tag[1]'].compensation).toBe('compensating');
    v = applyEvents(v, [ev('step.compensated', 'tag[1]', { uses: 'git/delete-tag', attempt: 1, item_index: 1 }, 1),
      ev('step.compensating', 'tag[0]', { uses: 'git/delete-tag', attempt: 1, item_index: 0 }, 1),
      ev('step.compensated', 'tag[0]', { uses: 'git/delete-tag', attempt: 1, item_index: 0 }, 1),
      ev('step.compensated', 'tag', { uses: 'git/delete-tag', items: 2 }, 1)]);
    expect(v.steps.tag).toMatchObject({ state: 'compensated', compensation: 'compensated' });
    expect(v.steps['tag[0]']).toMatchObject({ state: 'compensated', outputs: { name: 'a@1' } });
  });
});
