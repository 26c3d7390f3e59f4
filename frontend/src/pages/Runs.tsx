import { useEffect, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { followAll } from '../api/stream';
import { useRuns, useWorkflows } from '../api/hooks';
import { runStateValues, triggerKindValues } from '../api/enums';
import type { RunState } from '../api/types';
import { durationMs, formatDuration, isTerminal } from '../lib/runState';
import { isInstance } from '../lib/fanout';
import { concurrencyOf, queueText } from '../lib/queue';
import { navigate } from '../router';
import { ErrorBox, StateBadge, relTime } from '../components/common';
import { TriggerBadge } from '../components/TriggerBadge';

const PAGE = 25;

export function RunsPage({ workflow, state, trigger }: { workflow?: string; state?: RunState; trigger?: string }) {
  const [offset, setOffset] = useState(0);
  const workflows = useWorkflows();
  const runs = useRuns({ workflow, state, trigger, limit: PAGE, offset }, true);
  const qc = useQueryClient();
  // Run-level events from every run refresh the list at once; polling stays as a fallback.
  useEffect(() => followAll((ev) => {
    if (ev.type.startsWith('run.')) void qc.invalidateQueries({ queryKey: ['runs'] });
  }), [qc]);
  const setFilter = (w?: string, s?: string, t?: string) => {
    setOffset(0);
    const q = new URLSearchParams();
    if (w) q.set('workflow', w);
    if (s) q.set('state', s);
    if (t) q.set('trigger', t);
    navigate(`/runs${q.toString() ? `?${q}` : ''}`);
  };
  const total = runs.data?.total ?? 0;
  return (
    <div className="page">
      <header className="page-header">
        <h1>Runs</h1>
        <div className="filters" role="group" aria-label="Filters">
          <label htmlFor="filter-workflow">Workflow</label>
          <select id="filter-workflow" value={workflow ?? ''} onChange={(e) => setFilter(e.target.value || undefined, state, trigger)}>
            <option value="">all</option>
            {(workflows.data ?? []).map((w) => <option key={w.name} value={w.name}>{w.name}</option>)}
          </select>
          <label htmlFor="filter-state">State</label>
          <select id="filter-state" value={state ?? ''} onChange={(e) => setFilter(workflow, e.target.value || undefined, trigger)}>
            <option value="">all</option>
            {runStateValues.map((s) => <option key={s} value={s}>{s.replace(/_/g, ' ')}</option>)}
          </select>
          <label htmlFor="filter-trigger">Trigger</label>
          <select id="filter-trigger" value={trigger ?? ''} onChange={(e) => setFilter(workflow, state, e.target.value || undefined)}>
            <option value="">all</option>
            {triggerKindValues.map((k) => <option key={k} value={k}>{k === 'on_run' ? 'after a run' : k}</option>)}
            {trigger && !(triggerKindValues as readonly string[]).includes(trigger) && <option value={trigger}>{trigger}</option>}
          </select>
        </div>
      </header>
      <ErrorBox error={runs.error} />
      <table className="table">
        <thead><tr><th>Run</th><th>Workflow</th><th>State</th><th>Trigger</th><th>Key</th><th>Started</th><th>Duration</th><th>Steps</th></tr></thead>
        <tbody>
          {(runs.data?.items ?? []).map((r) => {
            // A fan-out's items are steps too; the count is of the definition's steps.
            const own = r.steps.filter((s) => !isInstance(s));
            const done = own.filter((s) => s.state === 'succeeded').length;
            const c = concurrencyOf(r);
            const position = queueText(c, r.state);
            return (
              <tr key={r.id} className="clickable" onClick={() => navigate(`/runs/${encodeURIComponent(r.id)}`)}>
                <td><a href={`#/runs/${encodeURIComponent(r.id)}`} onClick={(e) => e.stopPropagation()}><code>{r.id.slice(0, 12)}</code></a>{r.dry_run && <span className="dry-pill">dry</span>}
                  {r.parent && <span className="muted small-text" title={`child run of ${r.parent.run_id} (step ${r.parent.step_id})`}> ↳ {r.parent.step_id}</span>}</td>
                <td>{r.workflow} <span className="muted">v{r.version}</span></td>
                <td><StateBadge state={r.state} />{position && <span className="queue-pill" data-testid="queue-position">{position}</span>}</td>
                <td><TriggerBadge trigger={r.trigger} /></td>
                <td>{c ? <code className="small-text" title={`limit ${c.limit}, ${c.on_conflict}`}>{c.key}</code> : <span className="muted">—</span>}</td>
                <td>{relTime(r.started_at ?? r.created_at)}</td>
                <td>{isTerminal(r.state) || r.started_at ? formatDuration(durationMs(r.started_at, r.finished_at)) : '—'}</td>
                <td>{`${done}/${own.length}`}</td>
              </tr>
            );
          })}
          {runs.data && runs.data.items.length === 0 && <tr><td colSpan={8} className="muted center">No runs match.</td></tr>}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages">
        <button className="btn" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>← Newer</button>
        <span className="muted">{total ? `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total}` : ''}</span>
        <button className="btn" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>Older →</button>
      </nav>
    </div>
  );
}
