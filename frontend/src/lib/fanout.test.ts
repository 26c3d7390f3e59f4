import { describe, expect, it } from 'vitest';
import type { Run, RunEvent, StepState } from '../api/types';
import { fanOutsOf, instanceOf, parseForEach } from './fanout';
import { applyEvents, fromRun, mergeOutputs } from './runState';

const at = '2026-12-02T06:00:00Z';
let seq = 0;
const ev = (type: RunEvent['type'], step_id: string | null, data: Record<string, unknown> = {}): RunEvent =>
  ({ seq: ++seq, run_id: 'r1', type, step_id, attempt: 1, at, data }) as RunEvent;

function run(steps: Run['steps'] = []): Run {
  return {
    id: 'r1', workflow: 'w', version: 1, state: 'running', parameters: {}, dry_run: false, created_by: 'me', created_at: at,
    started_at: at, finished_at: null, steps, step_counts: {}, concurrency: null, outputs: {}, parent: null, finalizing: null,
  };
}

describe('fan-out instances', () => {
  it('an instance is known by its parent field, or by its id when only an event named it', () => {
    expect(instanceOf({ id: 'greet[3]', parent: 'greet', item_index: 3 })).toEqual({ parent: 'greet', index: 3 });
    expect(instanceOf({ id: 'greet[12]' })).toEqual({ parent: 'greet', index: 12 });
    expect(instanceOf({ id: 'greet' })).toBeNull();
    expect(instanceOf({ id: 'greet', parent: null })).toBeNull();
  });

  it('parses a literal list for the panel and refuses a non-list or more than 10,000 items', () => {
    expect(parseForEach('[a, 2, {k: v}]')).toEqual({ ok: true, value: ['a', 2, { k: 'v' }] });
    expect(parseForEach('- a\n- b')).toEqual({ ok: true, value: ['a', 'b'] });
    expect(parseForEach('')).toEqual({ ok: true, value: [] });
    expect(parseForEach('a: 1')).toMatchObject({ ok: false, error: expect.stringMatching(/list/) });
    expect(parseForEach(JSON.stringify(Array.from({ length: 10_001 }, (_, i) => i)))).toMatchObject({ ok: false, error: expect.stringMatching(/10000/) });
  });

  it('counts items terminal / items, with the total the aggregate announced before all instances are seen', () => {
    const states: StepState[] = ['succeeded', 'failed', 'running', 'pending', 'cancelled', 'skipped'];
    const steps = Object.fromEntries(states.map((state, i) => [`g[${i}]`, { id: `g[${i}]`, state, parent: 'g', item_index: i }]));
    const f = fanOutsOf(Object.keys(steps).reverse(), steps, { g: 100 }).get('g')!;
    expect(f.progress).toEqual({ total: 100, done: 4, succeeded: 1, failed: 1, cancelled: 1, running: 1 });
    // Items announced but not seen yet are drawn as pending cells.
    expect(f.items).toHaveLength(100);
    expect(f.items.slice(5, 7)).toEqual([{ id: 'g[5]', index: 5, state: 'skipped' }, { id: 'g[6]', index: 6, state: 'pending' }]);
    expect(fanOutsOf([], {}, { h: 5 }).get('h')?.items.map((i) => i.id)).toEqual(['h[0]', 'h[1]', 'h[2]', 'h[3]', 'h[4]']);
  });
});

describe('the run view with a fan-out', () => {
  it('folds instance events (not in the fetched run yet) into instance steps, and the step.started item count', () => {
    const base = fromRun(run([{ id: 'greet', uses: 'hello/greet', state: 'pending', attempt: 0, outputs: {}, error: null, started_at: null, finished_at: null, parent: null, item_index: null }]));
    const v = applyEvents(base, [
      ev('step.started', 'greet', { items: 3 }),
      ev('step.started', 'greet[0]'), ev('step.succeeded', 'greet[0]', { outputs: { greeting: 'hi a' } }),
      ev('step.started', 'greet[2]'), ev('step.log', 'greet[2]', { lines: [{ stream: 'stdout', line: 'hello c' }] }),
    ]);
    expect(v.order).toEqual(['greet', 'greet[0]', 'greet[2]']);
    expect(v.steps.greet.items).toBe(3);
    expect(v.steps['greet[2]']).toMatchObject({ parent: 'greet', item_index: 2, state: 'running' });
    expect(v.steps['greet[2]'].logs.map((l) => l.line)).toEqual(['hello c']);
    const p = fanOutsOf(v.order, v.steps, { greet: v.steps.greet.items! }).get('greet')!.progress;
    expect(`${p.done}/${p.total}`).toBe('1/3');
    expect(base.order).toEqual(['greet']); // the input is never mutated
  });

  it('takes the run outputs from the final event and finalizing from run.finalizing', () => {
    const v = applyEvents(fromRun(run()), [
      ev('run.finalizing', null, { state: 'cancelled', reason: 'cancel', by: 'me' }),
      ev('run.cancelled', null, { outputs: { version: '1.2.3' } }),
    ]);
    expect(v.run.finalizing).toBe('cancelled');
    expect(v.run.outputs).toEqual({ version: '1.2.3' });
    expect(v.state).toBe('cancelled');
  });

  it('mergeOutputs brings the stored run outputs and instance parents in', () => {
    const v = applyEvents(fromRun(run()), [ev('step.started', 'g[0]')]);
    const stored = run([{ id: 'g[0]', uses: 'x/y', state: 'succeeded', attempt: 1, outputs: { a: 1 }, error: null, started_at: at, finished_at: at, parent: 'g', item_index: 0 }]);
    const merged = mergeOutputs(v, { ...stored, outputs: { total: 1 } });
    expect(merged.run.outputs).toEqual({ total: 1 });
    expect(merged.steps['g[0]']).toMatchObject({ parent: 'g', item_index: 0, outputs: { a: 1 } });
  });

  it('applies the events of a 1,000-item fan-out in batches in well under a second', () => {
    let v = fromRun(run());
    const t = performance.now();
    const events: RunEvent[] = [ev('step.started', 'greet', { items: 1000 })];
    for (let i = 0; i < 1000; i++) events.push(ev('step.started', `greet[${i}]`), ev('step.log', `greet[${i}]`, { lines: [{ stream: 'stdout', line: `${i}` }] }), ev('step.succeeded', `greet[${i}]`, { outputs: { i } }));
    for (let i = 0; i < events.length; i += 50) v = applyEvents(v, events.slice(i, i + 50)); // as the page batches them
    const p = fanOutsOf(v.order, v.steps, { greet: 1000 }).get('greet')!.progress;
    expect(performance.now() - t).toBeLessThan(1000);
    expect(p).toMatchObject({ total: 1000, done: 1000, succeeded: 1000 });
    expect(v.events).toHaveLength(3001);
  });
});
