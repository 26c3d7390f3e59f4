import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, type Edge } from '@xyflow/react';
import { controlRun, fetchChildRuns, fetchHistory, fetchLogs, fetchRun, fetchRunPage, fetchVersion, type RunAction } from '../api/hooks';
import { followRun } from '../api/stream';
import { currentActor } from '../api/auth';
import type { LogLine, PlanItem, RunConcurrency, RunEvent, WorkflowDefinition } from '../api/types';
import { gateOutputsOf } from '../lib/approval';
import { blockerState, concurrencyOf, isWaiting, queueText, shortId } from '../lib/queue';
import { allSteps, downstreamOf, finallyOf, isSubWorkflow, normalizeDefinition, positionsOf } from '../lib/definition';
import { fanOutsOf, instanceOf, isInstance, type FanOut } from '../lib/fanout';
import { LARGE_GRAPH, NODE_HEIGHT, NODE_WIDTH, edgesOf, flowsDown, handlesOf, laneBoxOf, type RunNode } from '../lib/graph';
import { layoutDefinition } from '../lib/layout';
import { FanOutGrid } from '../components/FanOutGrid';
import { FinallyLane } from '../components/FinallyLane';
import { applyEvents, durationMs, failuresOf, formatDuration, fromRun, gatePlans, isTerminal, mergeOutputs, mergeRun, mergeRunSince, planOf, retryOffered, type RunView, type StepPlan } from '../lib/runState';
import { nodeTypes } from '../components/nodes';
import { ErrorBox, StateBadge } from '../components/common';
import { PlanView } from '../components/PlanView';
import { Markdown } from '../components/Markdown';
import { TriggerBadge } from '../components/TriggerBadge';
import { Timeline } from '../components/Timeline';
import { ApprovalDialog } from '../components/ApprovalDialog';

const STATE_COLOR: Record<string, string> = {
  pending: '#cbd5e1', running: '#3b82f6', retrying: '#f59e0b', awaiting_approval: '#a855f7',
  succeeded: '#16a34a', failed: '#dc2626', skipped: '#64748b', cancelled: '#78716c', compensated: '#0d9488',
};

export function RunPage({ id }: { id: string }) {
  return <ReactFlowProvider><RunScreen key={id} id={id} /></ReactFlowProvider>;
}

function RunScreen({ id }: { id: string }) {
  const [view, setView] = useState<RunView | null>(null);
  const viewRef = useRef<RunView | null>(null);
  viewRef.current = view;
  const [definition, setDefinition] = useState<WorkflowDefinition | null>(null);
  const [graphReady, setGraphReady] = useState(false);
  const [dryRunPlans, setDryRunPlans] = useState<Record<string, PlanItem[]>>({});
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [tab, setTab] = useState<'details' | 'timeline' | 'events'>('details');
  const [approving, setApproving] = useState<string | null>(null);
  const [busy, setBusy] = useState<RunAction | null>(null);
  const [now, setNow] = useState(Date.now());

  const refreshTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  // Outputs live on the stored step rows, not in the events: fetch them when steps finish.
  const refreshOutputs = useCallback(() => {
    clearTimeout(refreshTimer.current);
    refreshTimer.current = setTimeout(() => {
      fetchRun(id).then((r) => setView((v) => (v ? mergeOutputs(v, r) : v))).catch(() => undefined);
    }, 250);
  }, [id]);
  // Events arrive one per frame; a fan-out sends thousands. They are applied in batches (one render
  // per ~50 ms, not one per event).
  const pending = useRef<RunEvent[]>([]);
  const flushTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const addEvents = useCallback((evs: RunEvent[]) => {
    pending.current.push(...evs);
    if (flushTimer.current !== undefined) return;
    flushTimer.current = setTimeout(() => {
      flushTimer.current = undefined;
      const batch = pending.current;
      pending.current = [];
      setView((v) => (v ? applyEvents(v, batch) : v));
      // A gate's outputs (plan, digest, approvals so far) change when it opens and with each approval.
      if (batch.some((e) => /^(step\.(succeeded|failed|awaiting_approval|approved)|run\.)/.test(e.type))) refreshOutputs();
    }, 50);
  }, [refreshOutputs]);
  useEffect(() => () => { clearTimeout(refreshTimer.current); clearTimeout(flushTimer.current); }, []);

  // Stored run + history, then the live stream from the last seen seq.
  useEffect(() => {
    let stop: (() => void) | undefined;
    let cancelled = false;
    (async () => {
      try {
        const run = await fetchRun(id);
        const history = await fetchHistory(id).catch(() => [] as RunEvent[]);
        if (cancelled) return;
        const initial = applyEvents(fromRun(run), history);
        // Stored step rows are the truth where the history was trimmed.
        setView(initial.lastSeq ? initial : fromRun(run));
        viewRef.current = initial;
        // The history may be newer than the run fetched just before it.
        if (initial.lastSeq) refreshOutputs();
        fetchVersion(run.workflow, run.version)
          .then((wf) => !cancelled && setDefinition(normalizeDefinition(wf.definition)))
          .catch(() => undefined)
          .finally(() => !cancelled && setGraphReady(true));
        stop = followRun(id, () => viewRef.current?.lastSeq ?? 0, addEvents, setLive);
      } catch (err) {
        setError(err);
      }
    })();
    return () => {
      cancelled = true;
      stop?.();
    };
  }, [id, addEvents, refreshOutputs]);

  const running = view ? !isTerminal(view.state) : false;
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [running]);

  // The graph draws the steps of the definition, never a fan-out's instances (`greet[3]`): those
  // are the per-item grid of their step. Finally steps sit in their own lane.
  const finallyIds = useMemo(() => new Set(definition ? finallyOf(definition).map((s) => s.id) : []), [definition]);
  // Kept the same array while the ids are the same, so the layout below is not redone per event.
  const graphIds = useStableList(view ? view.order.filter((sid) => !isInstance(view.steps[sid])) : []);
  const usesOf = useStableList(view ? graphIds.map((sid) => view.steps[sid].uses) : []);
  const steps = useMemo(() => {
    const fromDef = new Map((definition ? allSteps(definition) : []).map((s) => [s.id, s]));
    return graphIds.map((sid, i) => fromDef.get(sid) ?? { id: sid, uses: usesOf[i] });
  }, [graphIds, usesOf, definition]);
  const mainSteps = useMemo(() => steps.filter((s) => !finallyIds.has(s.id)), [steps, finallyIds]);
  const finSteps = useMemo(() => steps.filter((s) => finallyIds.has(s.id)), [steps, finallyIds]);
  const positions = useMemo(() => {
    const stored = definition ? positionsOf(definition) : {};
    return steps.every((s) => stored[s.id]) ? stored : layoutDefinition({ spec: { steps: mainSteps, finally: finSteps } });
  }, [steps, mainSteps, finSteps, definition]);
  const laneBox = useMemo(() => (finSteps.length
    ? laneBoxOf(mainSteps.map((s) => positions[s.id]).filter(Boolean), finSteps.map((s) => positions[s.id]).filter(Boolean))
    : null), [mainSteps, finSteps, positions]);
  const viewSteps = view?.steps;
  const viewOrder = view?.order;
  const fanOuts = useMemo(() => {
    if (!viewSteps || !viewOrder) return new Map<string, FanOut>();
    const expected: Record<string, number> = {};
    for (const s of steps) if (typeof viewSteps[s.id]?.items === 'number') expected[s.id] = viewSteps[s.id].items!;
    return fanOutsOf(viewOrder, viewSteps, expected);
  }, [viewSteps, viewOrder, steps]);
  const children = useChildRuns(id, view, steps);
  // An item open in the panel keeps its fan-out step marked on the graph.
  const selectedParent = selected ? instanceOf({ id: selected })?.parent ?? null : null;
  const vertical = useMemo(() => flowsDown(mainSteps, positions), [mainSteps, positions]);
  const handles = useMemo(() => handlesOf(vertical), [vertical]);
  const nodes: RunNode[] = useMemo(() => steps.map((s) => {
    const st = view!.steps[s.id];
    return {
      id: s.id, type: 'run', position: positions[s.id] ?? { x: 0, y: 0 }, selected: s.id === selected || s.id === selectedParent,
      // Nodes are rebuilt on every tick; known sizes keep them (and the minimap) from waiting on a re-measure.
      initialWidth: NODE_WIDTH, initialHeight: NODE_HEIGHT, handles,
      data: {
        step: s, title: s.uses, state: st.state, attempt: st.attempt, durationMs: durationMs(st.started_at, st.finished_at, now), dryRun: !!view!.run.dry_run, vertical,
        lane: finallyIds.has(s.id) ? 'finally' : 'main',
        progress: fanOuts.get(s.id)?.progress ?? null,
        childRunId: childRunOf(st, children),
        compensation: st.compensation ?? null,
      },
    };
  }), [steps, positions, view, selected, selectedParent, now, vertical, handles, finallyIds, fanOuts, children]);
  const edges: Edge[] = useMemo(() => {
    if (!view) return [];
    const pseudo = { ...normalizeDefinition({}), spec: { steps } } as WorkflowDefinition;
    return edgesOf(pseudo, (src, tgt) => view.steps[src]?.state === 'succeeded' && ['running', 'retrying', 'awaiting_approval'].includes(view.steps[tgt]?.state));
  }, [steps, view]);

  const awaiting = view ? view.order.filter((sid) => view.steps[sid].state === 'awaiting_approval') : [];
  const failures = useMemo(() => (view && view.state === 'failed' ? failuresOf(view) : []), [view]);
  const finalizing = view && !isTerminal(view.state) ? view.run.finalizing ?? null : null;
  const queue = useQueue(id, view?.state ?? null, view?.run);

  // A real run's gate may carry no plan: then show what the latest dry run of this version planned.
  const needDryRunPlans = awaiting.length > 0 && !view?.run.dry_run;
  useEffect(() => {
    if (!needDryRunPlans || !view) return;
    latestDryRunPlans(view.run.workflow, view.run.version).then(setDryRunPlans).catch(() => undefined);
  }, [needDryRunPlans, view?.run.workflow, view?.run.version]); // eslint-disable-line react-hooks/exhaustive-deps

  const act = async (action: RunAction) => {
    setBusy(action);
    setError(null);
    const seq = viewRef.current?.lastSeq ?? 0;
    try {
      const run = await controlRun(id, action);
      // A retry resets steps to pending, which no event says: its answer always applies.
      setView((v) => (v ? (action === 'retry' ? mergeRun(v, run) : mergeRunSince(v, run, seq)) : v));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };

  if (!view) return <div className="page">{error ? <ErrorBox error={error} /> : <p className="muted">Loading run…</p>}</div>;
  const sel = selected ? view.steps[selected] : null;

  return (
    <div className="run-page">
      <header className="toolbar">
        <div className="toolbar-title">
          <span className="crumb"><a href="#/runs">Runs</a> /</span>
          <strong>{view.run.workflow}</strong>
          <span className="version-pill">v{view.run.version}</span>
          {view.run.dry_run && <span className="dry-pill">dry run</span>}
          <StateBadge state={view.state} />
          {queue.concurrency && <span className="key-pill" title="Concurrency key" data-testid="run-key">key {queue.concurrency.key}</span>}
          {view.run.compensated != null && <span className="compensated-pill" data-testid="run-compensated"
            title="The run's succeeded steps were undone by their compensate steps">{view.run.compensated === true ? 'compensated' : 'partially compensated'}</span>}
          {finalizing && <span className="finalizing-pill" data-testid="run-finalizing" title="Cancel or a run timeout handed the run over to its finally steps">finalizing → {finalizing.replace(/_/g, ' ')}</span>}
          {view.run.parent && <span className="muted small-text" data-testid="run-parent">child of <a href={`#/runs/${encodeURIComponent(view.run.parent.run_id)}`}>{shortId(view.run.parent.run_id)}</a> · {view.run.parent.step_id}</span>}
          {view.run.trigger && view.run.trigger.kind !== 'manual' && <TriggerBadge trigger={view.run.trigger} />}
          <span className={`live-dot${live ? ' on' : ''}`} title={live ? 'Live' : 'Reconnecting'}>{live ? 'live' : 'offline'}</span>
        </div>
        <div className="toolbar-group right" role="group" aria-label="Run control">
          <span className="muted small-text" data-testid="run-duration">{formatDuration(durationMs(view.run.started_at, view.run.finished_at, now))}</span>
          {view.state === 'running' && <button className="btn" disabled={!!busy} onClick={() => act('pause')}>Pause</button>}
          {view.state === 'paused' && <button className="btn" disabled={!!busy} onClick={() => act('resume')}>▶ Resume</button>}
          {running && (finalizing
            ? <button className="btn danger" disabled={!!busy} onClick={() => act('cancel')} title="A second cancel stops the finally steps too">■ Stop finally steps</button>
            : <button className="btn danger" disabled={!!busy} onClick={() => act('cancel')}>■ Cancel</button>)}
          {retryOffered(view) && <button className="btn primary" disabled={!!busy} onClick={() => act('retry')}>↻ Retry from failure</button>}
          <a className="btn" href={`#/workflows/${encodeURIComponent(view.run.workflow)}`}>Open workflow</a>
        </div>
      </header>
      {isWaiting(queue.concurrency, view.state) && (
        <div className="banner info queue-banner" role="status" data-testid="queue-banner">
          <strong data-testid="queue-position">{queueText(queue.concurrency, view.state)}</strong>
          <span className="muted">for key <code>{queue.concurrency.key}</code></span>
          {queue.concurrency.blocked_by.map((b) => (
            <span key={b} data-testid="waiting-for">
              waiting for run <a href={`#/runs/${encodeURIComponent(b)}`} data-testid={`blocker-${b}`}>{shortId(b)}</a>
              {queue.blockers[b] ? ` (${queue.blockers[b]})` : ''}
            </span>
          ))}
        </div>
      )}
      {awaiting.map((sid) => (
        <div key={sid} className="banner warn" role="status">
          Step <strong>{sid}</strong> is waiting for approval{approvalProgress(view.steps[sid].outputs)}.
          <button className="btn primary small" onClick={() => setApproving(sid)} data-testid={`review-${sid}`}>Review &amp; approve</button>
        </div>
      ))}
      {failures.length > 0 && (
        <div className="banner bad run-failures" role="alert" data-testid="run-failures">
          <strong>Run failed</strong>
          <ul>
            {failures.map((f) => (
              <li key={f.id} data-testid={`failure-${f.id}`}>
                step <button className="link" onClick={() => { setSelected(f.id); setTab('details'); }}>{f.id}</button>
                {f.items > 0 && <span className="muted"> ({f.items} item{f.items === 1 ? '' : 's'})</span>}
                {': '}<span className="failure-error">{f.error ?? 'no error message was recorded'}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      {error != null && <div className="banner-error"><ErrorBox error={error} onClose={() => setError(null)} /></div>}
      <div className="run-body">
        <div className="canvas" data-testid="run-canvas">
          {graphReady && <ReactFlow<RunNode, Edge> nodes={nodes} edges={edges} nodeTypes={nodeTypes} onlyRenderVisibleElements={nodes.length > LARGE_GRAPH} fitView fitViewOptions={{ padding: 0.2, maxZoom: 1.2 }} nodesDraggable={false} nodesConnectable={false}
            onNodeClick={(_, n) => { setSelected(n.id); setTab('details'); }} onPaneClick={() => setSelected(null)}
            defaultEdgeOptions={{ type: 'smoothstep' }} minZoom={0.1} proOptions={{ hideAttribution: true }}>
            <Background gap={20} size={1} />
            {laneBox && <FinallyLane box={laneBox} count={finSteps.length} />}
            <MiniMap pannable zoomable nodeColor={(n) => STATE_COLOR[(n.data as { state: string }).state] ?? '#94a3b8'} />
            <Controls showInteractive={false} />
          </ReactFlow>}
        </div>
        <aside className="side-panel wide" aria-label="Run details">
          <div className="tabs" role="tablist" aria-label="Run detail views">
            {(['details', 'timeline', 'events'] as const).map((t) => (
              <button key={t} role="tab" id={`run-tab-${t}`} aria-controls="run-tabpanel" aria-selected={tab === t} className={`tab${tab === t ? ' active' : ''}`} onClick={() => setTab(t)}>
                {t === 'details' ? (sel ? `Step ${sel.id}` : 'Run') : t[0].toUpperCase() + t.slice(1)}
              </button>
            ))}
          </div>
          <div className="panel-inner" role="tabpanel" id="run-tabpanel" aria-labelledby={`run-tab-${tab}`}>
            {tab === 'timeline' && <Timeline view={view} ids={graphIds} now={now} onSelect={(sid) => { setSelected(sid); setTab('details'); }} />}
            {tab === 'events' && (
              <ol className="events">
                {view.events.length > EVENTS_SHOWN && <li className="muted">the last {EVENTS_SHOWN} of {view.events.length} events</li>}
                {view.events.slice(-EVENTS_SHOWN).reverse().map((e) => (
                  <li key={e.seq}><span className="seq">#{e.seq}</span> <span className={`ev ev-${e.type.split('.')[1]}`}>{e.type}</span> {e.step_id && <code>{e.step_id}</code>} <span className="muted">{e.at ? new Date(e.at).toLocaleTimeString() : ''}</span></li>
                ))}
              </ol>
            )}
            {tab === 'details' && !sel && (
              <div>
                <dl className="kv">
                  <dt>Run</dt><dd><code>{view.run.id}</code></dd>
                  <dt>State</dt><dd><StateBadge state={view.state} /></dd>
                  {failures.length > 0 && <><dt>Failed at</dt><dd data-testid="overview-failure">{failures.map((f) => (
                    <div key={f.id}><button className="link" onClick={() => setSelected(f.id)}>{f.id}</button>: {f.error ?? 'no error message was recorded'}</div>
                  ))}</dd></>}
                  {queue.concurrency && <><dt>Key</dt><dd><code>{queue.concurrency.key}</code> <span className="muted">(limit {queue.concurrency.limit}, {queue.concurrency.on_conflict})</span></dd></>}
                  {isWaiting(queue.concurrency, view.state) && <><dt>Queue</dt><dd>{queueText(queue.concurrency, view.state)}</dd></>}
                  <dt>Started by</dt><dd>{view.run.created_by}</dd>
                  <dt>Started</dt><dd>{view.run.started_at ? new Date(view.run.started_at).toLocaleString() : '—'}</dd>
                  <dt>Duration</dt><dd>{formatDuration(durationMs(view.run.started_at, view.run.finished_at, now))}</dd>
                </dl>
                <RunOutputs outputs={view.run.outputs} />
                <h3>Parameters</h3>
                <pre className="json">{JSON.stringify(view.run.parameters, null, 2)}</pre>
                <h3>Steps</h3>
                <table className="table compact">
                  <thead><tr><th>Step</th><th>State</th><th>Attempt</th><th>Duration</th></tr></thead>
                  <tbody>
                    {graphIds.map((sid) => {
                      const s = view.steps[sid];
                      const fan = fanOuts.get(sid);
                      return (
                        <tr key={sid} onClick={() => setSelected(sid)} className="clickable">
                          <td>
                            <button className="link" onClick={() => setSelected(sid)}>{sid}</button>
                            {finallyIds.has(sid) && <span className="lane-pill">finally</span>}
                            {fan && <span className="muted small-text" data-testid={`fan-row-${sid}`}> {fan.progress.done}/{fan.progress.total}</span>}
                          </td>
                          <td><StateBadge state={s.state} /></td><td>{s.attempt}</td>
                          <td>{formatDuration(durationMs(s.started_at, s.finished_at, now))}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
            {tab === 'details' && sel && (
              <StepDetails runId={id} step={sel} now={now} onApprove={() => setApproving(sel.id)}
                fan={fanOuts.get(sel.id) ?? null} parentFan={(() => { const inst = instanceOf(sel); return inst ? fanOuts.get(inst.parent) ?? null : null; })()}
                childRunId={isSubWorkflow(sel.uses) ? childRunOf(sel, children) : null}
                lane={finallyIds.has(sel.id) ? 'finally' : 'main'} onSelect={setSelected} />
            )}
          </div>
        </aside>
      </div>
      {approving && view.steps[approving] && (
        <ApprovalDialog
          runId={id}
          stepId={approving}
          message={view.steps[approving].approvalMessage}
          outputs={view.steps[approving].outputs}
          me={currentActor()}
          plans={withDryRunPlans(gatePlans(view, approving, downstreamOf(steps, approving)), downstreamOf(steps, approving), dryRunPlans)}
          onClose={() => setApproving(null)}
          onDone={() => {
            setApproving(null);
            refreshOutputs();
            // The steps after the gate may finish (live, over the stream) before this answer lands.
            const seq = viewRef.current?.lastSeq ?? 0;
            fetchRun(id).then((r) => setView((v) => (v ? mergeRunSince(v, r, seq) : v))).catch(() => undefined);
          }}
        />
      )}
    </div>
  );
}

async function latestDryRunPlans(workflow: string, version: number): Promise<Record<string, PlanItem[]>> {
  const { items } = await fetchRunPage({ workflow, state: 'succeeded', limit: 20, offset: 0 });
  const dry = items.find((r) => r.dry_run && r.version === version);
  if (!dry) return {};
  const full = dry.steps.length ? dry : await fetchRun(dry.id);
  return Object.fromEntries(full.steps.map((s) => [s.id, planOf(s.outputs)]).filter(([, p]) => p.length));
}

function withDryRunPlans(plans: StepPlan[], downstream: string[], fromDryRun: Record<string, PlanItem[]>): StepPlan[] {
  const have = new Set(plans.map((p) => p.step));
  const extra = downstream.filter((id) => !have.has(id) && fromDryRun[id]?.length)
    .map((id) => ({ step: `${id} (from the last dry run)`, plan: fromDryRun[id] }));
  return [...plans, ...extra];
}

const EVENTS_SHOWN = 500;

/** The previous array while the items are the same (by ===), so memos downstream keep their results. */
function useStableList<T>(next: T[]): T[] {
  const ref = useRef(next);
  const prev = ref.current;
  if (prev !== next && (prev.length !== next.length || prev.some((x, i) => x !== next[i]))) ref.current = next;
  return ref.current;
}

/** A sub-workflow step's child run: its outputs say (`child_run_id`), or the run's children list does. */
function childRunOf(step: RunView['steps'][string] | undefined, children: Record<string, string>): string | null {
  if (!step) return null;
  const fromOutputs = step.outputs?.child_run_id;
  return typeof fromOutputs === 'string' && fromOutputs ? fromOutputs : children[step.id] ?? null;
}

/**
 * The child runs of this run by parent step id (GET /runs?parent_run_id=): asked when the run has
 * sub-workflow steps, and again each time one more of them (or of their instances) has started.
 */
function useChildRuns(runId: string, view: RunView | null, steps: { id: string; uses: string }[]): Record<string, string> {
  const [children, setChildren] = useState<Record<string, string>>({});
  const subIds = useMemo(() => new Set(steps.filter((s) => isSubWorkflow(s.uses)).map((s) => s.id)), [steps]);
  let started = 0;
  if (view && subIds.size) {
    for (const sid of view.order) {
      const st = view.steps[sid];
      const owner = instanceOf(st)?.parent ?? sid;
      if (subIds.has(owner) && st.state !== 'pending') started++;
    }
  }
  useEffect(() => {
    if (!started) return;
    let cancelled = false;
    const t = setTimeout(() => {
      fetchChildRuns(runId).then((runs) => {
        if (!cancelled) setChildren(Object.fromEntries(runs.flatMap((r) => (r.parent ? [[r.parent.step_id, r.id]] : []))));
      }).catch(() => undefined);
    }, 300);
    return () => { cancelled = true; clearTimeout(t); };
  }, [runId, started]);
  return children;
}

/** The run's workflow outputs (`spec.outputs`, evaluated at its end). */
function RunOutputs({ outputs }: { outputs: Record<string, unknown> | undefined }) {
  const entries = Object.entries(outputs ?? {});
  if (!entries.length) return null;
  return (
    <>
      <h3>Outputs</h3>
      <dl className="run-outputs" data-testid="run-outputs">
        {entries.map(([k, v]) => (
          <div key={k} style={{ display: 'contents' }} data-testid={`run-output-${k}`}>
            <dt>{k}</dt><dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
          </div>
        ))}
      </dl>
    </>
  );
}

function StepDetails({ runId, step, now, onApprove, fan, parentFan, childRunId, lane, onSelect }: {
  runId: string; step: RunView['steps'][string]; now: number; onApprove: () => void;
  fan: FanOut | null; parentFan: FanOut | null; childRunId: string | null; lane: 'main' | 'finally'; onSelect: (id: string) => void;
}) {
  const inst = instanceOf(step);
  const [logs, setLogs] = useState<LogLine[] | null>(null);
  const [logError, setLogError] = useState<unknown>(null);
  useEffect(() => {
    let cancelled = false;
    fetchLogs(runId, step.id).then((l) => !cancelled && setLogs(l)).catch((e) => !cancelled && setLogError(e));
    return () => { cancelled = true; };
  }, [runId, step.id, step.state, step.attempt]);
  const shownLogs = logs && logs.length >= step.logs.length ? logs : step.logs;
  const plan = planOf(step.outputs);
  const notes = typeof step.outputs?.notes === 'string' ? step.outputs.notes : null;
  const otherOutputs = step.outputs ? Object.fromEntries(Object.entries(step.outputs).filter(([k]) => k !== 'plan' && !(k === 'notes' && notes != null))) : {};
  return (
    <div className="step-details" data-testid="step-details">
      <h2>{step.id}{lane === 'finally' && <span className="lane-pill">finally</span>}</h2>
      {inst && (
        <p className="muted small-text" data-testid="instance-of">
          Item {inst.index}{parentFan ? ` of ${parentFan.progress.total}` : ''} of <button className="link" onClick={() => onSelect(inst.parent)}>{inst.parent}</button>
          {parentFan && inst.index > 0 && <> · <button className="link" onClick={() => onSelect(`${inst.parent}[${inst.index - 1}]`)}>‹ previous</button></>}
          {parentFan && inst.index < parentFan.progress.total - 1 && <> · <button className="link" onClick={() => onSelect(`${inst.parent}[${inst.index + 1}]`)}>next ›</button></>}
        </p>
      )}
      <dl className="kv">
        <dt>Type</dt><dd><code>{step.uses || '—'}</code></dd>
        {childRunId && <><dt>Child run</dt><dd><a href={`#/runs/${encodeURIComponent(childRunId)}`} data-testid="child-run-link">{shortId(childRunId)}</a></dd></>}
        <dt>State</dt><dd><StateBadge state={step.state} /></dd>
        <dt>Attempt</dt><dd>{step.attempt}</dd>
        <dt>Duration</dt><dd>{formatDuration(durationMs(step.started_at, step.finished_at, now))}</dd>
      </dl>
      {step.state === 'awaiting_approval' && <button className="btn primary" onClick={onApprove}>Review &amp; approve</button>}
      {step.error && <div className="error-box"><strong>Error</strong> <pre>{step.error}</pre></div>}
      {fan && (<><h3>Items</h3><FanOutGrid stepId={step.id} fan={fan} selected={null} onOpen={onSelect} /></>)}
      {plan.length > 0 && (<><h3>Plan</h3><PlanView plan={plan} /></>)}
      {notes != null && (<><h3>Release notes</h3><Markdown source={notes} label="Release notes" /></>)}
      <h3>Outputs</h3>
      {Object.keys(otherOutputs).length ? <pre className="json">{JSON.stringify(otherOutputs, null, 2)}</pre> : <p className="muted">None.</p>}
      <h3>Logs</h3>
      <ErrorBox error={logError} />
      {shownLogs.length ? (
        <pre className="logs" data-testid="logs">{shownLogs.map((l, i) => (
          <span key={i} className={`log-${l.stream}`}>{l.at ? `${new Date(l.at).toLocaleTimeString()} ` : ''}{l.line}{'\n'}</span>
        ))}</pre>
      ) : <p className="muted">No log lines.</p>}
    </div>
  );
}

/** " (1 of 2 approvals)" for a gate that needs more than one, from its outputs. */
function approvalProgress(outputs: Record<string, unknown> | null | undefined): string {
  const gate = gateOutputsOf(outputs);
  const required = gate.policy?.required ?? 1;
  return required > 1 || gate.approvals.length ? ` (${gate.approvals.length} of ${required} approvals)` : '';
}

const QUEUE_POLL_MS = 2000;

/**
 * A keyed run's place in its queue and why each blocker holds its slot. A waiting run gets no events
 * of its own, and the blockers' states live on other runs: both are fetched every two seconds while
 * the run waits, and once more when its state changes (it left the queue).
 */
function useQueue(id: string, state: string | null, run: unknown): { concurrency: RunConcurrency | null; blockers: Record<string, string> } {
  const [concurrency, setConcurrency] = useState<RunConcurrency | null>(null);
  const [blockers, setBlockers] = useState<Record<string, string>>({});
  const initial = useMemo(() => concurrencyOf(run), [run]);
  useEffect(() => { if (initial) setConcurrency((c) => c ?? initial); }, [initial]);
  const waiting = isWaiting(concurrency, state ?? '');
  const keyed = !!(concurrency ?? initial);
  useEffect(() => {
    if (!state || !keyed) return;
    let cancelled = false;
    const refresh = async () => {
      try {
        const r = await fetchRun(id);
        if (cancelled) return;
        const c = concurrencyOf(r);
        setConcurrency(c);
        if (!c?.blocked_by.length) return;
        const states = await Promise.all(c.blocked_by.map((b) => fetchRun(b).then(blockerState).catch(() => null)));
        if (!cancelled) setBlockers(Object.fromEntries(c.blocked_by.flatMap((b, i) => (states[i] ? [[b, states[i]]] : []))));
      } catch {
        // The next tick tries again; the banner keeps what it showed.
      }
    };
    void refresh();
    const t = waiting ? setInterval(refresh, QUEUE_POLL_MS) : undefined;
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, [id, state, waiting, keyed]);
  return { concurrency, blockers };
}
