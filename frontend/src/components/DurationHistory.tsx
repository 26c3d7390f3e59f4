import { useMemo, useState } from 'react';
import { useRuns } from '../api/hooks';
import type { WorkflowDefinition } from '../api/types';
import { allSteps } from '../lib/definition';
import { barHeight, durationBars, durationStats } from '../lib/durations';
import { formatDuration } from '../lib/runState';
import { isInstance } from '../lib/fanout';

const LAST = 30;
const H = 64;
const BAR = 8;
const GAP = 3;

/** The last runs' durations of a saved workflow, or of one of its steps: one bar per run, coloured by state, linking to the run. */
export function DurationHistory({ workflow, definition }: { workflow: string; definition: WorkflowDefinition }) {
  const [step, setStep] = useState('');
  const runs = useRuns({ workflow, limit: LAST, offset: 0 });
  const bars = useMemo(() => durationBars(runs.data?.items ?? [], step || undefined), [runs.data, step]);
  const stats = durationStats(bars);
  // The steps of this version, then those only older runs have (a step removed since keeps its history).
  const current = allSteps(definition).map((s) => s.id);
  const gone = useMemo(() => {
    const have = new Set(current);
    const out = new Set<string>();
    for (const r of runs.data?.items ?? []) for (const s of r.steps) if (!isInstance(s) && !have.has(s.id)) out.add(s.id);
    return [...out].sort();
  }, [runs.data, current.join('\n')]);
  const width = Math.max(LAST * (BAR + GAP), 1);
  return (
    <section className="panel-section" aria-labelledby="wf-durations-title" data-testid="duration-history">
      <h3 id="wf-durations-title">Duration history <span className="muted small-text">(last {LAST} runs)</span></h3>
      <label htmlFor="wf-durations-step">Show durations of</label>
      <select id="wf-durations-step" value={step} onChange={(e) => setStep(e.target.value)}>
        <option value="">the whole run</option>
        {current.map((id) => <option key={id} value={id}>step {id}</option>)}
        {gone.map((id) => <option key={id} value={id}>step {id} (removed since)</option>)}
      </select>
      {bars.length === 0 ? (
        <p className="muted small-text" data-testid="duration-empty">{runs.isLoading ? 'Loading…' : step ? `No finished run of step ${step} yet.` : 'No finished run yet.'}</p>
      ) : (
        <>
          <svg className="duration-chart" viewBox={`0 0 ${width} ${H}`} width="100%" height={H} preserveAspectRatio="xMinYMax meet"
            role="img" aria-label={`Durations of the last ${bars.length} runs${step ? ` of step ${step}` : ''}: longest ${formatDuration(stats.max)}`}>
            <line x1={0} x2={width} y1={H - 0.5} y2={H - 0.5} className="duration-axis" />
            {bars.map((b, i) => {
              const h = barHeight(b.ms, stats.max, H - 4);
              return (
                <a key={b.runId} href={`#/runs/${encodeURIComponent(b.runId)}`} data-testid="duration-bar" data-state={b.state} data-ms={b.ms}>
                  <rect x={i * (BAR + GAP)} y={H - h} width={BAR} height={h} rx={1.5} className={`duration-bar state-${b.state}`}>
                    <title>{`${formatDuration(b.ms)} · ${b.state.replace(/_/g, ' ')} · ${new Date(b.startedAt).toLocaleString()} · run ${b.runId.slice(0, 12)}`}</title>
                  </rect>
                </a>
              );
            })}
          </svg>
          <p className="muted small-text" data-testid="duration-stats">
            last {formatDuration(stats.last)} · median {formatDuration(stats.median)} · longest {formatDuration(stats.max)}
          </p>
        </>
      )}
    </section>
  );
}
