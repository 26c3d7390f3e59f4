// Folds the run's event stream onto its stored state. Events carry a gap-free seq per run, so a
// reconnecting stream (after=lastSeq) and a replay of history reduce to the same view.
import { runStateValues, stepStateValues, terminalRunStateValues, terminalStepStateValues } from '../api/enums';
import type { EventType, LogLine, PlanItem, Run, RunEvent, RunState, StepRun, StepState } from '../api/types';
import { instanceOf } from './fanout';

export interface StepView extends Omit<StepRun, 'compensation'> {
  logs: LogLine[];
  /** The unwind of a failed run: this step's compensation is running, undid it, or failed. */
  compensation?: 'compensating' | 'compensated' | 'failed' | null;
  approvalMessage?: string;
  approvalPlans?: StepPlan[];
  /** A fan-out step's item count, as its `step.started` announced it. */
  items?: number;
}

export interface StepPlan {
  step: string;
  plan: PlanItem[];
}

export interface RunView {
  run: Omit<Run, 'steps'>;
  state: RunState;
  order: string[];
  steps: Record<string, StepView>;
  lastSeq: number;
  events: RunEvent[];
}

export function isRunState(value: string): value is RunState {
  return (runStateValues as readonly string[]).includes(value);
}

export function isStepState(value: string): value is StepState {
  return (stepStateValues as readonly string[]).includes(value);
}

/** A run event names the state it leads to (`run.<state>`), except that started and resumed runs run. */
function runStateAfter(type: EventType): RunState | undefined {
  if (type === 'run.started' || type === 'run.resumed') return 'running';
  const state = type.startsWith('run.') ? type.slice('run.'.length) : '';
  return isRunState(state) ? state : undefined;
}

/** A step event names the state it leads to (`step.<state>`), except that a started step runs. */
function stepStateAfter(type: EventType): StepState | undefined {
  if (type === 'step.started') return 'running';
  const state = type.startsWith('step.') ? type.slice('step.'.length) : '';
  return isStepState(state) ? state : undefined;
}

// Which states are terminal comes with the vocabulary (vwmp_common.states → OpenAPI `x-terminal`).
export const TERMINAL_RUN_STATES: readonly RunState[] = terminalRunStateValues;
export const TERMINAL_STEP_STATES: readonly StepState[] = terminalStepStateValues;

export function isTerminal(state: RunState): boolean {
  return TERMINAL_RUN_STATES.includes(state);
}

/** Whether the run view offers "Retry from failure": a failed or cancelled run, unless its unwind undid
 *  something (`compensated: true | "partial"`) — the gateway refuses that retry with a 409 too. */
export function retryOffered(view: Pick<RunView, 'state' | 'run'>): boolean {
  if (view.state !== 'failed' && view.state !== 'cancelled') return false;
  const undone = view.run.compensated;
  return undone !== true && undone !== 'partial';
}

export function fromRun(run: Run): RunView {
  const { steps, ...meta } = run;
  const view: RunView = { run: meta, state: run.state, order: [], steps: {}, lastSeq: 0, events: [] };
  for (const s of steps) {
    view.order.push(s.id);
    view.steps[s.id] = { ...s, logs: [] };
  }
  return view;
}

/**
 * mergeRun for a run fetched while events kept arriving: when the stream moved past `seqAtRequest`
 * the snapshot may be older than the view (a step it shows running already succeeded live), so the
 * view, which the stream keeps current, wins.
 */
export function mergeRunSince(view: RunView, run: Run, seqAtRequest: number): RunView {
  return view.lastSeq > seqAtRequest ? view : mergeRun(view, run);
}

/** Takes step states from a freshly fetched run but keeps logs and the event cursor. */
export function mergeRun(view: RunView, run: Run): RunView {
  const next = fromRun(run);
  for (const id of next.order) {
    const old = view.steps[id];
    if (old) next.steps[id] = { ...next.steps[id], logs: old.logs, approvalPlans: old.approvalPlans, approvalMessage: old.approvalMessage };
  }
  return { ...next, lastSeq: view.lastSeq, events: view.events };
}

function isPlanItem(item: unknown): item is PlanItem & { step?: unknown } {
  return typeof item === 'object' && item !== null && 'action' in item && typeof item.action === 'string'
    && 'target' in item && typeof item.target === 'string';
}

function asPlan(v: unknown): PlanItem[] | undefined {
  return Array.isArray(v) ? v.filter(isPlanItem) : undefined;
}

/** The plan of an approval gate's event: one list whose items name the step they belong to. */
export function plansOf(raw: unknown, fallbackStep: string): StepPlan[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const groups = new Map<string, PlanItem[]>();
  for (const { step, ...item } of raw.filter(isPlanItem)) {
    const name = typeof step === 'string' ? step : fallbackStep;
    groups.set(name, [...(groups.get(name) ?? []), item]);
  }
  return [...groups].map(([step, plan]) => ({ step, plan }));
}

/** The lines of a `step.log` event (`data.lines: [{stream, line}]`) as the API's log lines. */
function logLinesOf(ev: RunEvent, stepId: string): LogLine[] {
  const lines = ev.data.lines;
  if (!Array.isArray(lines)) return [];
  return lines.flatMap((l: unknown): LogLine[] => (
    typeof l === 'object' && l !== null && 'line' in l && typeof l.line === 'string'
      ? [{ step_id: stepId, attempt: ev.attempt, at: ev.at, stream: 'stream' in l && typeof l.stream === 'string' ? l.stream : 'stdout', line: l.line }]
      : []
  ));
}

/** Outputs and errors are not always in the events: take them from a fetched run, keep the rest. */
export function mergeOutputs(view: RunView, run: Run): RunView {
  let steps: Record<string, StepView> | null = null;
  for (const s of run.steps) {
    const cur = view.steps[s.id];
    if (!cur) continue;
    const outputs = s.outputs ?? cur.outputs;
    const error = s.error ?? cur.error;
    const parent = s.parent ?? cur.parent ?? null;
    // An instance first seen in an event has no `uses` yet: the stored row has it.
    const uses = cur.uses || s.uses;
    const compensation = s.compensation ?? cur.compensation ?? null;
    if (outputs !== cur.outputs || error !== cur.error || parent !== (cur.parent ?? null) || uses !== cur.uses
        || compensation !== (cur.compensation ?? null)) {
      steps ??= { ...view.steps };
      steps[s.id] = { ...cur, uses, outputs, error, parent, item_index: s.item_index ?? cur.item_index ?? null, compensation };
    }
  }
  // The run's outputs are stored with its end; finalizing when a cancel handed it to its finally steps.
  const mine = view.run;
  const runChanged = (run.outputs !== undefined && JSON.stringify(run.outputs) !== JSON.stringify(mine.outputs))
    || (run.finalizing !== undefined && run.finalizing !== mine.finalizing)
    || (run.compensated !== undefined && run.compensated !== mine.compensated)
    || (run.parent !== undefined && JSON.stringify(run.parent) !== JSON.stringify(mine.parent));
  if (!steps && !runChanged) return view;
  const nextRun = runChanged
    ? { ...mine, outputs: run.outputs ?? mine.outputs, finalizing: run.finalizing ?? mine.finalizing ?? null, parent: run.parent ?? mine.parent ?? null,
      compensated: run.compensated ?? mine.compensated ?? null }
    : mine;
  return { ...view, run: nextRun, steps: steps ?? view.steps };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function applyEvent(view: RunView, ev: RunEvent): RunView {
  return applyEvents(view, [ev]);
}

/**
 * A batch of events onto the view in one copy: a 1,000-item fan-out sends thousands of events, and
 * copying the whole view per event would make the run page quadratic.
 */
export function applyEvents(view: RunView, events: RunEvent[]): RunView {
  const fresh = events.filter((e) => e.seq > view.lastSeq).sort((a, b) => a.seq - b.seq);
  if (!fresh.length) return view;
  const work: RunView = { ...view, run: { ...view.run }, steps: { ...view.steps }, order: view.order, events: view.events.slice() };
  let known: Set<string> | null = null;
  for (const ev of fresh) {
    if (ev.seq <= work.lastSeq) continue; // the same seq twice in one batch
    work.lastSeq = ev.seq;
    work.events.push(ev);
    foldRunEvent(work, ev);
    if (!ev.step_id || ev.type.startsWith('run.')) continue;
    const step = work.steps[ev.step_id] = stepAfter(work.steps[ev.step_id], ev);
    // A for_each step is undone item by item: its companion says "undoing…" from the first item on.
    const parent = ev.type === 'step.compensating' && step.parent ? work.steps[step.parent] : undefined;
    if (parent && parent.state === 'succeeded' && !parent.compensation) work.steps[parent.id] = { ...parent, compensation: 'compensating' };
    if (!known) known = new Set(work.order);
    if (!known.has(ev.step_id)) {
      if (work.order === view.order) work.order = view.order.slice();
      work.order.push(ev.step_id);
      known.add(ev.step_id);
    }
  }
  return work;
}

/** Run events change the run's state, times, outputs and finalizing; `work.run` is already a copy. */
function foldRunEvent(work: RunView, ev: RunEvent): void {
  if (ev.type === 'run.finalizing') {
    const to = ev.data.state;
    if (typeof to === 'string' && isRunState(to)) work.run.finalizing = to;
    return;
  }
  const runState = runStateAfter(ev.type);
  if (!runState) return;
  work.state = runState;
  if (ev.type === 'run.started' && !work.run.started_at) work.run.started_at = ev.at;
  if (isTerminal(runState)) {
    work.run.finished_at = ev.at;
    if (isRecord(ev.data.outputs)) work.run.outputs = ev.data.outputs;
    const undone = ev.data.compensated;
    if (undone === true || undone === 'partial') work.run.compensated = undone;
  }
}

function stepAfter(old: StepView | undefined, ev: RunEvent): StepView {
  const inst = old ? null : instanceOf({ id: ev.step_id! });
  const prev: StepView = old ?? {
    id: ev.step_id!, uses: '', state: 'pending', attempt: 0, outputs: {}, error: null,
    started_at: null, finished_at: null, logs: [],
    ...(inst ? { parent: inst.parent, item_index: inst.index } : {}),
  };
  const step: StepView = { ...prev };
  const data = ev.data;
  step.attempt = Math.max(step.attempt, ev.attempt);
  if (ev.type === 'step.log') {
    step.logs = [...prev.logs, ...logLinesOf(ev, step.id)];
  } else if (ev.type.startsWith('step.compensat')) {
    // The unwind: the step's own outputs stay; its compensation's outcome is shown beside its state.
    if (ev.type === 'step.compensating') step.compensation = 'compensating';
    if (ev.type === 'step.compensated') { step.compensation = 'compensated'; step.state = 'compensated'; }
    if (ev.type === 'step.compensation_failed') {
      step.compensation = 'failed';
      if (typeof data.error === 'string') step.error = `compensation failed: ${data.error}`;
    }
  } else {
    step.state = stepStateAfter(ev.type) ?? prev.state;
    if (ev.type === 'step.started') {
      step.started_at = prev.state === 'retrying' && prev.started_at ? prev.started_at : ev.at;
      step.finished_at = null;
      step.error = null;
      if (typeof data.items === 'number') step.items = data.items;
    }
    if (ev.type === 'step.awaiting_approval') {
      if (!step.started_at) step.started_at = ev.at;
      step.approvalMessage = typeof data.message === 'string' ? data.message : undefined;
      step.approvalPlans = plansOf(data.plan, step.id);
    }
    if (TERMINAL_STEP_STATES.includes(step.state)) step.finished_at = ev.at;
    if (isRecord(data.outputs)) step.outputs = data.outputs;
    if (typeof data.error === 'string') step.error = data.error;
  }
  return step;
}

export function durationMs(start: string | null, end: string | null, now = Date.now()): number | null {
  if (!start) return null;
  const s = Date.parse(start);
  const e = end ? Date.parse(end) : now;
  return Number.isFinite(s) && Number.isFinite(e) ? Math.max(0, e - s) : null;
}

export function formatDuration(ms: number | null): string {
  if (ms == null) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${Math.round((ms % 60_000) / 1000)}s`;
}

export function planOf(outputs: Record<string, unknown> | null | undefined): PlanItem[] {
  return asPlan(outputs?.plan) ?? [];
}

/** Plans of the steps behind an approval gate, for the approver to read before anything happens. */
export function gatePlans(view: RunView, gateId: string, downstream: string[]): StepPlan[] {
  const out: StepPlan[] = [...(view.steps[gateId]?.approvalPlans ?? [])];
  const seen = new Set(out.map((p) => p.step));
  for (const id of downstream) {
    const plan = planOf(view.steps[id]?.outputs);
    if (plan.length && !seen.has(id)) out.push({ step: id, plan });
  }
  return out;
}

export interface StepFailure {
  id: string;
  /** The step's error text, or null when none was recorded. */
  error: string | null;
  /** A fan-out's items that failed are folded onto their step: how many. */
  items: number;
}

/**
 * Why a run failed, for its overview: each failed step (a fan-out's failed items counted on their
 * step, the first item's error shown) in the run's order, so nobody has to click node after node.
 */
export function failuresOf(view: RunView): StepFailure[] {
  const out = new Map<string, StepFailure>();
  for (const sid of view.order) {
    const st = view.steps[sid];
    if (!st || st.state !== 'failed') continue;
    const owner = instanceOf(st)?.parent ?? sid;
    const cur = out.get(owner);
    if (cur) {
      if (owner !== sid) cur.items++;
      cur.error ??= st.error ?? null;
    } else {
      out.set(owner, { id: owner, error: st.error ?? null, items: owner !== sid ? 1 : 0 });
    }
  }
  return [...out.values()];
}
