import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';
import {
  Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, applyEdgeChanges, applyNodeChanges,
  useReactFlow, type Connection, type Edge, type EdgeChange, type NodeChange, type OnDelete,
} from '@xyflow/react';
import { ApiError } from '../api/problem';
import { fetchVersion, useSaveWorkflow, useStepTypes, useTemplates, useWorkflow, useWorkflows, validateDefinition } from '../api/hooks';
import type { StepDefinition, StepType, ValidationIssue, Workflow, WorkflowDefinition } from '../api/types';
import {
  addStep, allSteps, connect, emptyDefinition, finallyOf, laneOf, moveToLane, normalizeDefinition, positionsOf, removeSteps, renameStep,
  setPositions, updateStep, disconnect,
} from '../lib/definition';
import { designNodesOf, edgesOf, EDGE_MARKER, iconOf, insideLane, laneBoxOf, laneSlot, needsLayout, reconcileNodes, LARGE_GRAPH, NODE_HEIGHT, NODE_WIDTH, type DesignNode, type TypeInfo } from '../lib/graph';
import { historyReducer } from '../lib/history';
import { layoutDefinition } from '../lib/layout';
import { subWorkflowTypes } from '../lib/subworkflows';
import { FinallyLane } from '../components/FinallyLane';
import { mapIssues } from '../lib/pointer';
import { navigate } from '../router';
import { nodeTypes } from '../components/nodes';
import { DND_MIME, Palette } from '../components/Palette';
import { StepPanel } from '../components/StepPanel';
import { WorkflowPanel } from '../components/WorkflowPanel';
import { YamlView } from '../components/YamlView';
import { ErrorBox } from '../components/common';
import { VersionHistory } from '../components/VersionHistory';
import { RunDialog } from '../components/RunDialog';
import { VersionDiffPanel } from '../components/VersionDiffPanel';
import { diffVersions, mergedForDiff } from '../lib/versionDiff';

declare global {
  interface Window {
    __vwmpLayout?: { ms: number; nodes: number; at: number };
  }
}

/** The gateway's "[] should be non-empty" at /spec/steps: what a blank canvas is, not a mistake. */
function isEmptyStepsIssue(issue: ValidationIssue): boolean {
  return issue.pointer === '/spec/steps' && /non-empty|at least 1|too short|fewer than/i.test(issue.message);
}

/** The window's inner width, kept current on resize. */
function useWindowWidth(): number {
  const [w, setW] = useState(() => window.innerWidth);
  useEffect(() => {
    const on = () => setW(window.innerWidth);
    window.addEventListener('resize', on);
    return () => window.removeEventListener('resize', on);
  }, []);
  return w;
}

function withLayout(def: WorkflowDefinition): WorkflowDefinition {
  if (!needsLayout(def)) return def;
  const t = performance.now();
  const next = setPositions(def, layoutDefinition(def));
  window.__vwmpLayout = { ms: performance.now() - t, nodes: allSteps(def).length, at: performance.now() };
  return next;
}

export function DesignerPage({ name, template }: { name: string | null; template?: string }) {
  return (
    <ReactFlowProvider>
      <Designer key={name ?? `new:${template ?? ''}`} name={name} template={template} />
    </ReactFlowProvider>
  );
}

type View = 'canvas' | 'yaml' | 'split';

function Designer({ name, template }: { name: string | null; template?: string }) {
  const stepTypes = useStepTypes();
  const storedWorkflows = useWorkflows();
  const templates = useTemplates();
  const workflow = useWorkflow(name);
  const save = useSaveWorkflow();
  const [hist, dispatch] = useReducer(historyReducer<WorkflowDefinition>, { past: [], present: emptyDefinition(), future: [] });
  const def = hist.present;
  const [loaded, setLoaded] = useState<Workflow | null>(null);
  const savedRef = useRef<WorkflowDefinition | null>(null);
  const [viewing, setViewing] = useState<Workflow | null>(null);
  // Two versions compared on the canvas (read-only): the older one first.
  const [comparing, setComparing] = useState<{ from: Workflow; to: Workflow } | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [issues, setIssues] = useState<ValidationIssue[]>([]);
  const [validating, setValidating] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  // An edit the designer refused (a cycle, an edge across the lanes): an error, not a notice.
  const [refusal, setRefusal] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [view, setView] = useState<View>('canvas');
  // The palette folds to a rail by itself in the split view on a screen under 1,700 px (canvas and
  // YAML each keep ~440 px at 1,440); a click on the rail or on "Hide" decides from then on.
  const [paletteChoice, setPaletteChoice] = useState<boolean | null>(null);
  const windowWidth = useWindowWidth();
  const paletteOpen = paletteChoice ?? !(view === 'split' && windowWidth < 1700);
  const [showHistory, setShowHistory] = useState(false);
  const [showRun, setShowRun] = useState(false);
  const [ready, setReady] = useState(false);
  const [fitOnOpen, setFitOnOpen] = useState(false);
  const rf = useReactFlow();
  const readOnly = viewing != null || comparing != null;
  // One object per viewed version: every effect below keys on `shown`, so a definition rebuilt on
  // each render would re-run them, set state, render again… and never stop.
  const viewed = useMemo(() => (viewing ? normalizeDefinition(viewing.definition) : null), [viewing]);
  const diff = useMemo(() => (comparing ? diffVersions(normalizeDefinition(comparing.from.definition), normalizeDefinition(comparing.to.definition)) : null), [comparing]);
  const merged = useMemo(() => (comparing ? withLayout(mergedForDiff(normalizeDefinition(comparing.from.definition), normalizeDefinition(comparing.to.definition))) : null), [comparing]);
  const shown = merged ?? viewed ?? def;

  // Load once: the stored workflow, a template, or an empty definition.
  useEffect(() => {
    if (ready) return;
    let initial: WorkflowDefinition | null = null;
    if (name && workflow.data) {
      initial = normalizeDefinition(workflow.data.definition);
      setLoaded(workflow.data);
    } else if (!name && template && templates.data) {
      const t = templates.data.find((x) => x.name === template);
      initial = normalizeDefinition(t?.definition ?? emptyDefinition());
      if (!initial.metadata.name) initial.metadata.name = template;
    } else if (!name && !template) {
      initial = emptyDefinition();
    }
    if (!initial) return;
    const laid = withLayout(initial);
    savedRef.current = name ? laid : null;
    dispatch({ type: 'reset', value: laid });
    // Fit an opened graph once; an empty canvas keeps zoom 1 so the first drop does not zoom in.
    setFitOnOpen(allSteps(laid).length > 0);
    setReady(true);
  }, [ready, name, template, workflow.data, templates.data]);

  // Server-side validation, debounced, against the definition as drawn.
  useEffect(() => {
    if (!ready) return;
    const target = shown;
    const timer = setTimeout(async () => {
      setValidating(true);
      try {
        const r = await validateDefinition(target);
        setIssues(r.errors);
      } catch (err) {
        if (err instanceof ApiError && err.issues.length) setIssues(err.issues);
      } finally {
        setValidating(false);
      }
    }, 400);
    return () => clearTimeout(timer);
  }, [shown, ready]);

  const mapped = useMemo(() => mapIssues(shown, issues), [shown, issues]);
  // Stored workflows are step types too (`workflow/<name>`), except this one: a call cycle is refused.
  const paletteTypes = useMemo(() => [...(stepTypes.data ?? []), ...subWorkflowTypes(storedWorkflows.data ?? [], shown.metadata.name, stepTypes.data ?? [])],
    [stepTypes.data, storedWorkflows.data, shown.metadata.name]);
  const typeMap = useMemo(() => new Map((stepTypes.data ?? []).map((t) => [t.type, t])), [stepTypes.data]);
  const typeInfo = useMemo(() => new Map<string, TypeInfo>([...typeMap].map(([k, t]) => [k, { title: t.title, plugin: t.plugin, icon: iconOf((t as { icon?: unknown }).icon) }])), [typeMap]);
  const errorsByStep = useMemo(() => new Map([...mapped.byStep].map(([id, l]) => [id, l.map((i) => i.message)])), [mapped]);

  const [nodes, setNodes] = useState<DesignNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  useEffect(() => {
    const change = new Map((diff?.steps ?? []).map((d) => [d.id, d.change]));
    const drawn = designNodesOf(shown, typeInfo, diff ? new Map() : errorsByStep, new Set(selected ? [selected] : []));
    setNodes((prev) => reconcileNodes(prev, diff ? drawn.map((n) => ({ ...n, className: `diff-${change.get(n.id) ?? 'same'}` })) : drawn));
  }, [shown, typeInfo, errorsByStep, selected, diff]);
  useEffect(() => {
    if (diff) {
      // Both versions' edges: the removed ones dashed red, the added ones green.
      setEdges(diff.edges.map((e) => ({ id: e.id, source: e.source, target: e.target, markerEnd: EDGE_MARKER, className: `diff-edge-${e.change}` })));
      return;
    }
    setEdges((prev) => {
      const sel = new Set(prev.filter((e) => e.selected).map((e) => e.id));
      return edgesOf(shown).map((e) => ({ ...e, selected: sel.has(e.id) }));
    });
  }, [shown, diff]);

  // The finally lane's band: around the finally nodes where they are now (it follows a drag), and
  // where they were before the drag (what a drop is judged against).
  const laneBox = useMemo(() => laneBoxOf(
    nodes.filter((n) => n.data.lane === 'main').map((n) => n.position),
    nodes.filter((n) => n.data.lane === 'finally').map((n) => n.position),
  ), [nodes]);
  const storedLaneBox = useMemo(() => {
    const pos = positionsOf(shown);
    const at = (ids: string[]) => ids.flatMap((id) => (pos[id] ? [pos[id]] : []));
    return laneBoxOf(at(shown.spec.steps.map((s) => s.id)), at(finallyOf(shown).map((s) => s.id)));
  }, [shown]);

  const commit = useCallback((next: WorkflowDefinition) => {
    if (!readOnly) dispatch({ type: 'set', value: next });
  }, [readOnly]);

  const onNodesChange = useCallback((changes: NodeChange<DesignNode>[]) => {
    setNodes((ns) => applyNodeChanges(changes.filter((c) => c.type !== 'remove'), ns));
    // A selected node opens its panel; unselecting the open one (Escape on a focused node) closes it.
    const picked = changes.flatMap((c) => (c.type === 'select' && c.selected ? [c.id] : []));
    const dropped = new Set(changes.flatMap((c) => (c.type === 'select' && !c.selected ? [c.id] : [])));
    if (picked.length) setSelected(picked[picked.length - 1]);
    else if (dropped.size) setSelected((cur) => (cur && dropped.has(cur) ? null : cur));
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    setEdges((es) => applyEdgeChanges(changes.filter((c) => c.type !== 'remove'), es));
  }, []);
  const onDelete: OnDelete<DesignNode, Edge> = useCallback(({ nodes: ns, edges: es }) => {
    let next = def;
    for (const e of es) next = disconnect(next, e.source, e.target);
    if (ns.length) next = removeSteps(next, ns.map((n) => n.id));
    if (selected && ns.some((n) => n.id === selected)) setSelected(null);
    commit(next);
  }, [def, commit, selected]);
  const onConnect = useCallback((c: Connection) => {
    const r = connect(def, c.source, c.target);
    if (r.ok) {
      commit(r.definition);
      setRefusal(null);
    } else setRefusal(r.reason);
  }, [def, commit]);
  const onNodeDragStop = useCallback((_: unknown, __: unknown, dragged: DesignNode[]) => {
    let next = setPositions(def, Object.fromEntries(dragged.map((n) => [n.id, n.position])));
    // Dropped into the finally band, a main step becomes a finally step; dragged up out of it, a main one again.
    for (const n of dragged) {
      const centre = { x: n.position.x + NODE_WIDTH / 2, y: n.position.y + NODE_HEIGHT / 2 };
      const lane = laneOf(next, n.id);
      if (lane === 'main' && insideLane(storedLaneBox, centre)) next = moveToLane(next, n.id, 'finally');
      else if (lane === 'finally' && centre.y < storedLaneBox.y) next = moveToLane(next, n.id, 'main');
      if (laneOf(next, n.id) !== lane) setNotice(`${n.id} now runs ${lane === 'main' ? 'in the finally lane, after every other step' : 'in the main graph'}; its dependencies across lanes were removed`);
    }
    commit(next);
  }, [def, commit, storedLaneBox]);

  const addType = useCallback((t: StepType, position?: { x: number; y: number }) => {
    const pos = position ?? rf.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
    let spot = { x: pos.x - 110, y: pos.y - 32 };
    if (!position) {
      // Added from the keyboard: step down past the nodes already there instead of stacking on them.
      const taken = Object.values(def.ui?.positions ?? {});
      while (taken.some((p) => Math.abs(p.x - spot.x) < 200 && Math.abs(p.y - spot.y) < 70)) spot = { ...spot, y: spot.y + 90 };
    }
    const lane = position && insideLane(storedLaneBox, position) ? 'finally' : 'main';
    if (lane === 'finally' && !finallyOf(def).length) spot = laneSlot(storedLaneBox);
    const { definition, id } = addStep(def, t.type, spot, {}, lane);
    commit(definition);
    setSelected(id);
  }, [def, commit, rf, storedLaneBox]);
  const onDrop = useCallback((e: React.DragEvent) => {
    e.preventDefault();
    const type = e.dataTransfer.getData(DND_MIME);
    const t = typeMap.get(type) ?? paletteTypes.find((x) => x.type === type);
    if (t) addType(t, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  }, [typeMap, paletteTypes, addType, rf]);

  const autoLayout = useCallback(() => {
    commit(setPositions(def, layoutDefinition(def)));
    requestAnimationFrame(() => rf.fitView({ padding: 0.15, maxZoom: 1.2, duration: 200 }));
  }, [def, commit, rf]);

  // The canvas changes width with the view (and the palette): fit the graph into it again.
  const lastFrame = useRef(`${view}/${paletteOpen}`);
  useEffect(() => {
    const frame = `${view}/${paletteOpen}`;
    if (frame === lastFrame.current) return;
    lastFrame.current = frame;
    if (view === 'yaml') return;
    const t = window.setTimeout(() => void rf.fitView({ padding: 0.15, maxZoom: 1.2, duration: 150 }), 60);
    return () => window.clearTimeout(t);
  }, [view, paletteOpen, rf]);

  const dirty = savedRef.current !== def && !(savedRef.current == null && def.spec.steps.length === 0);
  const doSave = useCallback(async () => {
    setError(null);
    try {
      const wf = await save.mutateAsync({ definition: def, version: loaded?.version ?? null });
      savedRef.current = def;
      setLoaded(wf);
      setNotice(`Saved ${wf.name} as version ${wf.version}`);
      if (!name) navigate(`/workflows/${encodeURIComponent(wf.name)}`);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 412
        ? new ApiError(412, { ...err.problem, title: 'Someone else saved a newer version', detail: 'Your changes were not saved. Open the history to compare, or reload the latest version and re-apply them.' })
        : err);
      if (err instanceof ApiError) setIssues((prev) => (err.issues.length ? err.issues : prev));
    }
  }, [def, loaded, name, save]);

  // Keyboard: undo/redo and save, unless typing in a field.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement;
      const typing = el.closest('input, textarea, select, [contenteditable]');
      const mod = e.ctrlKey || e.metaKey;
      if (mod && e.key.toLowerCase() === 's') {
        e.preventDefault();
        if (!readOnly) void doSave();
      } else if (!typing && mod && e.key.toLowerCase() === 'z') {
        e.preventDefault();
        dispatch({ type: e.shiftKey ? 'redo' : 'undo' });
      } else if (!typing && mod && e.key.toLowerCase() === 'y') {
        e.preventDefault();
        dispatch({ type: 'redo' });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [doSave, readOnly]);

  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(null), 4000);
    return () => clearTimeout(t);
  }, [notice]);
  useEffect(() => {
    if (!refusal) return;
    const t = setTimeout(() => setRefusal(null), 8000);
    return () => clearTimeout(t);
  }, [refusal]);

  if (name && workflow.isError) return <div className="page"><ErrorBox error={workflow.error} /></div>;
  if (!ready) return <div className="page muted">Loading…</div>;

  const selStep: StepDefinition | undefined = allSteps(shown).find((s) => s.id === selected);
  // A workflow with no steps yet is not "1 problem" ([] should be non-empty): it is a start.
  const shownIssues = allSteps(shown).length ? issues : issues.filter((i) => !isEmptyStepsIssue(i));
  const issueCount = shownIssues.length;
  const startHint = !validating && !issueCount && allSteps(shown).length === 0;

  return (
    <div className="designer">
      <header className="toolbar" aria-label="Designer toolbar">
        <div className="toolbar-title">
          <span className="crumb"><a href="#/workflows">Workflows</a> /</span>
          <strong data-testid="workflow-name">{shown.metadata.name || 'untitled'}</strong>
          {loaded && <span className="version-pill">v{viewing?.version ?? loaded.version}</span>}
          {dirty && !readOnly && <span className="dirty" title="Unsaved changes">●</span>}
        </div>
        <div className="toolbar-group" role="group" aria-label="Edit">
          <button className="btn" onClick={() => dispatch({ type: 'undo' })} disabled={readOnly || !hist.past.length} title="Undo (Ctrl+Z)">↶ Undo</button>
          <button className="btn" onClick={() => dispatch({ type: 'redo' })} disabled={readOnly || !hist.future.length} title="Redo (Ctrl+Shift+Z)">↷ Redo</button>
          <button className="btn" onClick={autoLayout} disabled={readOnly} title="Arrange the graph in layers (left to right, or top to bottom for a long chain)">⇶ Auto-layout</button>
        </div>
        <div className="toolbar-group" role="group" aria-label="View">
          {(['canvas', 'split', 'yaml'] as View[]).map((v) => (
            <button key={v} className={`btn seg${view === v ? ' active' : ''}`} aria-pressed={view === v} onClick={() => setView(v)}>
              {v === 'canvas' ? 'Canvas' : v === 'yaml' ? 'YAML' : 'Split'}
            </button>
          ))}
        </div>
        <div className="toolbar-group right">
          <span className={`validity ${issueCount ? 'bad' : startHint ? 'hint' : 'good'}`} role="status" data-testid="validity">
            {validating ? 'Validating…' : issueCount ? `${issueCount} problem${issueCount > 1 ? 's' : ''}` : startHint ? 'Add a step to start' : '✓ Valid'}
          </span>
          {name && <button className="btn" onClick={() => setShowHistory(true)}>History</button>}
          {!readOnly && <button className="btn primary" onClick={doSave} disabled={save.isPending || !shown.metadata.name} data-testid="save">
            {save.isPending ? 'Saving…' : 'Save'}
          </button>}
          {name && loaded && <button className="btn run" onClick={() => setShowRun(true)} disabled={dirty && !readOnly} title={dirty ? 'Save first' : 'Start a run'} data-testid="run">▶ Run</button>}
        </div>
      </header>
      {viewing && (
        <div className="banner info" role="status">
          Viewing version {viewing.version} (read-only), saved {viewing.created_at ? new Date(viewing.created_at).toLocaleString() : '—'} by {viewing.created_by}.
          <button className="btn small" onClick={() => setViewing(null)}>Back to latest</button>
          <button className="btn small" data-testid="restore-version" onClick={() => {
            // Not `commit`: that refuses edits while a version is viewed, and this is the way out of viewing.
            dispatch({ type: 'set', value: withLayout(normalizeDefinition(viewing.definition)) });
            setViewing(null);
            setNotice(`Restored version ${viewing.version}: save to make it the newest version`);
          }}>
            Restore this version
          </button>
        </div>
      )}
      {comparing && diff && (
        <div className="banner info" role="status" data-testid="compare-banner">
          Comparing version {comparing.from.version} with {comparing.to.version}:{' '}
          {(['added', 'removed', 'changed'] as const).map((c) => `${diff.steps.filter((s) => s.change === c).length} ${c}`).join(', ')} step(s)
          <span className="diff-legend"><span className="diff-tag diff-added">added</span><span className="diff-tag diff-removed">removed</span><span className="diff-tag diff-changed">changed</span></span>
          <button className="btn small" onClick={() => { setComparing(null); setSelected(null); }}>Close comparison</button>
        </div>
      )}
      {notice && <div className="banner ok" role="status">{notice}</div>}
      {refusal && (
        <div className="banner bad" role="alert" data-testid="refusal">
          <span><strong>Not connected:</strong> {refusal}</span>
          <button className="link dismiss" onClick={() => setRefusal(null)} aria-label="Dismiss">×</button>
        </div>
      )}
      {error != null && <div className="banner-error"><ErrorBox error={error} onClose={() => setError(null)} /></div>}
      <div className="designer-body">
        <Palette types={paletteTypes} loading={stepTypes.isLoading} onAdd={(t) => addType(t)} disabled={readOnly}
          collapsed={!paletteOpen} onToggle={() => setPaletteChoice(!paletteOpen)} />
        <div className={`work view-${view}`}>
          {view !== 'yaml' && (
            <div className="canvas" onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; }} onDrop={onDrop} data-testid="canvas">
              <ReactFlow<DesignNode, Edge>
                nodes={nodes}
                edges={edges}
                nodeTypes={nodeTypes}
                onNodesChange={onNodesChange}
                onEdgesChange={onEdgesChange}
                onConnect={onConnect}
                onDelete={onDelete}
                onNodeDragStop={onNodeDragStop}
                onPaneClick={() => setSelected(null)}
                nodesDraggable={!readOnly}
                nodesConnectable={!readOnly}
                elementsSelectable
                deleteKeyCode={readOnly ? null : ['Backspace', 'Delete']}
                defaultEdgeOptions={{ type: 'smoothstep' }}
                minZoom={0.1}
                // Above a few hundred steps only the nodes in view are rendered: panning a 2,000-step
                // workflow drew every node each frame (p95 frame 217 ms in e2e/scale.e2e.test.mjs).
                onlyRenderVisibleElements={nodes.length > LARGE_GRAPH}
                fitView={fitOnOpen}
                fitViewOptions={{ padding: 0.15, maxZoom: 1.2 }}
                proOptions={{ hideAttribution: true }}
              >
                <Background gap={20} size={1} />
                <FinallyLane box={laneBox} count={finallyOf(shown).length} hint="drop a step here to run it after every other step, whatever happened" />
                {view === 'canvas' && <MiniMap pannable zoomable nodeStrokeWidth={3} nodeColor={(n) => ((n.data as { errors?: string[] }).errors?.length ? '#ef4444' : n.type === 'gate' ? '#f59e0b' : n.type === 'workflow' ? '#0d9488' : (n.data as { lane?: string }).lane === 'finally' ? '#d97706' : '#6366f1')} />}
                <Controls showInteractive={false} />
              </ReactFlow>
              {allSteps(shown).length === 0 && (
                <div className="canvas-empty">Drag steps from the palette onto the canvas<br />or press Enter on one to add it.</div>
              )}
            </div>
          )}
          {view !== 'canvas' && <YamlView definition={shown} readOnly={readOnly} onChange={commit} issues={comparing ? [] : issues} types={paletteTypes} />}
        </div>
        <aside className="side-panel" aria-label="Properties">
          {comparing && diff ? (
            <VersionDiffPanel diff={diff} from={comparing.from.version} to={comparing.to.version} onSelect={(id) => setSelected(id)} />
          ) : selStep ? (
            <StepPanel
              definition={shown}
              step={selStep}
              stepType={typeMap.get(selStep.uses)}
              stepTypes={stepTypes.data ?? []}
              issues={mapped.byStep.get(selStep.id) ?? []}
              readOnly={readOnly}
              onChange={(patch) => commit(updateStep(def, selStep.id, patch))}
              onRename={(newId) => { commit(renameStep(def, selStep.id, newId)); setSelected(newId); }}
              onDelete={() => { commit(removeSteps(def, [selStep.id])); setSelected(null); }}
              onMoveLane={(lane) => {
                let next = moveToLane(def, selStep.id, lane);
                // Into an empty lane: put the step inside the band, not where it stood in the graph.
                if (lane === 'finally' && !finallyOf(def).length) next = setPositions(next, { [selStep.id]: laneSlot(storedLaneBox) });
                else if (lane === 'finally') {
                  const fin = finallyOf(def).map((s) => positionsOf(def)[s.id]).filter(Boolean);
                  const right = Math.max(...fin.map((p) => p.x)) + NODE_WIDTH + 40;
                  next = setPositions(next, { [selStep.id]: { x: right, y: Math.min(...fin.map((p) => p.y)) } });
                } else {
                  const main = def.spec.steps.map((s) => positionsOf(def)[s.id]).filter(Boolean);
                  if (main.length) next = setPositions(next, { [selStep.id]: { x: Math.max(...main.map((p) => p.x)) + NODE_WIDTH + 40, y: Math.min(...main.map((p) => p.y)) } });
                }
                commit(next);
              }}
            />
          ) : (
            <WorkflowPanel definition={shown} isNew={!name} readOnly={readOnly} general={mapped.general.filter((i) => allSteps(shown).length || !isEmptyStepsIssue(i))} onChange={commit} />
          )}
        </aside>
      </div>
      {showHistory && name && (
        <VersionHistory name={name} current={viewing?.version ?? loaded?.version ?? null} onClose={() => setShowHistory(false)}
          onView={async (v) => {
            try {
              const wf = await fetchVersion(name, v);
              setViewing(v === loaded?.version ? null : wf);
              setComparing(null);
              setShowHistory(false);
            } catch (err) {
              setError(err);
            }
          }}
          onCompare={async (a, b) => {
            try {
              const [x, y] = await Promise.all([fetchVersion(name, Math.min(a, b)), fetchVersion(name, Math.max(a, b))]);
              setViewing(null);
              setSelected(null);
              setComparing({ from: x, to: y });
              setShowHistory(false);
            } catch (err) {
              setError(err);
            }
          }} />
      )}
      {showRun && loaded && (
        <RunDialog workflow={loaded} definition={viewed ?? normalizeDefinition(loaded.definition)} version={viewing?.version}
          onClose={() => setShowRun(false)} />
      )}
    </div>
  );
}
