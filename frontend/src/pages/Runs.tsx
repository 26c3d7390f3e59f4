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
import { ApiError } from '../api/problem';
import { filterOfPointer, isEmptySearch, parseParamFilter, runSearchHash, type RunSearch } from '../lib/runSearch';

const PAGE = 25;

export function RunsPage({ search }: { search: RunSearch }) {
  const { workflow, state, trigger } = search;
  const [offset, setOffset] = useState(0);
  const workflows = useWorkflows();
  const runs = useRuns({ ...search, limit: PAGE, offset }, true);
  const qc = useQueryClient();
  // Run-level events from every run refresh the list at once; polling stays as a fallback.
  useEffect(() => followAll((ev) => {
    if (ev.type.startsWith('run.')) void qc.invalidateQueries({ queryKey: ['runs'] });
  }), [qc]);
  // The search lives in the URL: a change is a navigation, so Back undoes it and the link shares it.
  const setSearch = (patch: Partial<RunSearch>) => {
    setOffset(0);
    navigate(runSearchHash({ ...search, ...patch }));
  };
  const fieldIssues = new Map<string, string[]>();
  for (const i of runs.error instanceof ApiError ? runs.error.issues : []) {
    const f = filterOfPointer(i.pointer);
    if (f) fieldIssues.set(f, [...(fieldIssues.get(f) ?? []), i.message]);
  }
  const total = runs.data?.total ?? 0;
  return (
    <div className="page">
      <header className="page-header">
        <h1>Runs</h1>
        <div className="filters" role="group" aria-label="Filters">
          <label htmlFor="filter-workflow">Workflow</label>
          <select id="filter-workflow" value={workflow ?? ''} onChange={(e) => setSearch({ workflow: e.target.value || undefined })}>
            <option value="">all</option>
            {(workflows.data ?? []).map((w) => <option key={w.name} value={w.name}>{w.name}</option>)}
          </select>
          <label htmlFor="filter-state">State</label>
          <select id="filter-state" value={state ?? ''} onChange={(e) => setSearch({ state: (e.target.value || undefined) as RunState | undefined })}>
            <option value="">all</option>
            {runStateValues.map((s) => <option key={s} value={s}>{s.replace(/_/g, ' ')}</option>)}
          </select>
          <label htmlFor="filter-trigger">Trigger</label>
          <select id="filter-trigger" value={trigger ?? ''} onChange={(e) => setSearch({ trigger: e.target.value || undefined })}>
            <option value="">all</option>
            {triggerKindValues.map((k) => <option key={k} value={k}>{k === 'on_run' ? 'after a run' : k}</option>)}
            {trigger && !(triggerKindValues as readonly string[]).includes(trigger) && <option value={trigger}>{trigger}</option>}
          </select>
        </div>
      </header>
      <RunSearchBar search={search} issues={fieldIssues} onChange={setSearch} />
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

/** Actor, dates and parameter values: the filters typed rather than picked, each committed on Enter or blur. */
function RunSearchBar({ search, issues, onChange }: { search: RunSearch; issues: Map<string, string[]>; onChange: (patch: Partial<RunSearch>) => void }) {
  const [actor, setActor] = useState(search.actor ?? '');
  useEffect(() => setActor(search.actor ?? ''), [search.actor]);
  const [param, setParam] = useState('');
  const [paramError, setParamError] = useState<string | null>(null);
  const params = search.params ?? [];
  const addParam = () => {
    const p = parseParamFilter(param);
    if (!p) { setParamError('Type a parameter as name=value, e.g. repo=shop'); return; }
    setParamError(null);
    setParam('');
    onChange({ params: [...params.filter(([n]) => n !== p[0]), p] });
  };
  const errs = (k: string) => issues.get(k)?.map((m, i) => <li key={i}>{m}</li>);
  return (
    <div className="search-bar" role="search" aria-label="Search runs">
      <div className="search-field">
        <label htmlFor="filter-actor">Started by</label>
        <input id="filter-actor" value={actor} placeholder="anyone" spellCheck={false}
          onChange={(e) => setActor(e.target.value)}
          onBlur={() => actor.trim() !== (search.actor ?? '') && onChange({ actor: actor.trim() || undefined })}
          onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()} />
        {issues.has('actor') && <ul className="field-errors">{errs('actor')}</ul>}
      </div>
      <div className="search-field">
        <label htmlFor="filter-since">From</label>
        <input id="filter-since" type="date" value={dayOf(search.since)} onChange={(e) => onChange({ since: e.target.value || undefined })} />
        {issues.has('since') && <ul className="field-errors">{errs('since')}</ul>}
      </div>
      <div className="search-field">
        <label htmlFor="filter-until">To</label>
        <input id="filter-until" type="date" value={dayOf(search.until)} onChange={(e) => onChange({ until: e.target.value || undefined })} />
        {issues.has('until') && <ul className="field-errors">{errs('until')}</ul>}
      </div>
      <div className="search-field grow">
        <label htmlFor="filter-param">Parameter</label>
        <div className="row gap">
          <input id="filter-param" className="mono" value={param} placeholder="repo=shop" spellCheck={false}
            aria-invalid={!!paramError || undefined}
            onChange={(e) => { setParam(e.target.value); setParamError(null); }}
            onKeyDown={(e) => e.key === 'Enter' && addParam()} />
          <button className="btn small" onClick={addParam} disabled={!param.trim()}>+ Filter</button>
        </div>
        {paramError && <ul className="field-errors"><li>{paramError}</li></ul>}
      </div>
      {params.length > 0 && (
        <ul className="param-chips" aria-label="Parameter filters">
          {params.map(([n, v]) => (
            <li key={n} className={`param-chip${issues.has(`param.${n}`) ? ' bad' : ''}`} data-testid={`param-filter-${n}`}>
              <code>{n} = {v === '' ? '""' : v}</code>
              <button className="link" aria-label={`Remove parameter filter ${n}`} onClick={() => onChange({ params: params.filter(([x]) => x !== n) })}>×</button>
              {issues.has(`param.${n}`) && <ul className="field-errors">{errs(`param.${n}`)}</ul>}
            </li>
          ))}
        </ul>
      )}
      {!isEmptySearch(search) && (
        <div className="search-actions">
          <button className="btn small" onClick={() => onChange({ workflow: undefined, state: undefined, trigger: undefined, actor: undefined, since: undefined, until: undefined, params: undefined })}>Clear search</button>
          <button className="btn small" data-testid="copy-search" onClick={() => void navigator.clipboard?.writeText(window.location.href)} title="Copy a link to this search">Copy link</button>
        </div>
      )}
    </div>
  );
}

/** A date input shows days; a search linked with a full ISO moment shows its day. */
function dayOf(v?: string): string {
  return v ? v.slice(0, 10) : '';
}
