import { describe, expect, it } from 'vitest';
import type { Run } from '../api/types';
import { barHeight, durationBars, durationStats } from './durations';

const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s)).toISOString();
function run(id: string, state: string, start: number | null, end: number | null, steps: Record<string, unknown>[] = []): Run {
  return { id, state, started_at: start == null ? null : at(start), finished_at: end == null ? null : at(end), steps } as unknown as Run;
}
const step = (id: string, state: string, start: number, end: number | null, parent: string | null = null) =>
  ({ id, state, started_at: at(start), finished_at: end == null ? null : at(end), parent });

describe('duration history', () => {
  it('has one bar per finished run, oldest first, coloured by its state; a running run has none yet', () => {
    const runs = [run('c', 'running', 30, null), run('b', 'failed', 20, 23), run('a', 'succeeded', 0, 10)];
    expect(durationBars(runs).map((b) => [b.runId, b.state, b.ms])).toEqual([['a', 'succeeded', 10_000], ['b', 'failed', 3000]]);
  });

  it("a step's history is that step's own span, not its fan-out items, and skips runs where it did not run", () => {
    const runs = [
      run('a', 'succeeded', 0, 10, [step('build', 'succeeded', 1, 5), step('build[0]', 'succeeded', 1, 9, 'build')]),
      run('b', 'failed', 20, 30, [step('lint', 'failed', 21, 22)]),
      run('c', 'failed', 40, 50, [step('build', 'failed', 41, 48)]),
    ];
    expect(durationBars(runs, 'build').map((b) => [b.runId, b.state, b.ms])).toEqual([['a', 'succeeded', 4000], ['c', 'failed', 7000]]);
  });

  it('summarises the longest, the median and the last, and scales bars to the longest', () => {
    const bars = durationBars([run('a', 'succeeded', 0, 10), run('b', 'succeeded', 20, 22), run('c', 'failed', 30, 34)]);
    expect(durationStats(bars)).toEqual({ max: 10_000, median: 4000, last: 4000 });
    expect(durationStats([])).toEqual({ max: 0, median: 0, last: null });
    expect(barHeight(10_000, 10_000, 60)).toBe(60);
    expect(barHeight(0, 10_000, 60)).toBe(2);
    expect(barHeight(5000, 10_000, 60)).toBe(30);
  });
});
