// Duration history: how long the last runs of a workflow (or one of its steps) took, oldest first,
// for the workflow page's chart. Kept free of React so it is unit-tested.
import type { Run, RunState, StepState } from '../api/types';
import { durationMs } from './runState';
import { isInstance } from './fanout';

export interface DurationBar {
  runId: string;
  /** The run's state, or the step's in a step's history. */
  state: RunState | StepState;
  ms: number;
  startedAt: string;
}

/**
 * One bar per run that started and ended (a running run has no duration yet), oldest first. With a
 * step, the bar is that step's own start-to-end in each run where it ran (a fan-out step: the step,
 * not its items); runs where it did not run are left out.
 */
export function durationBars(runs: Run[], step?: string): DurationBar[] {
  const bars: DurationBar[] = [];
  for (const r of runs) {
    const s = step ? r.steps.find((x) => x.id === step && !isInstance(x)) : null;
    const span = step ? s : r;
    if (!span || !span.started_at || !span.finished_at) continue;
    const ms = durationMs(span.started_at, span.finished_at);
    if (ms == null) continue;
    bars.push({ runId: r.id, state: span.state, ms, startedAt: span.started_at });
  }
  return bars.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
}

export interface DurationStats {
  max: number;
  median: number;
  last: number | null;
}

export function durationStats(bars: DurationBar[]): DurationStats {
  if (!bars.length) return { max: 0, median: 0, last: null };
  const sorted = bars.map((b) => b.ms).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
  return { max: sorted[sorted.length - 1], median, last: bars[bars.length - 1].ms };
}

/** A bar's height in a chart `height` tall: proportional to the longest, never less than 2 px so a 0 ms run shows. */
export function barHeight(ms: number, max: number, height: number): number {
  if (max <= 0) return 2;
  return Math.max(2, Math.round((ms / max) * height));
}
