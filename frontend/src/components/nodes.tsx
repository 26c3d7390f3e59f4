// One memoised component per node kind; `nodeTypes` lives at module scope so React Flow never
// sees a new object and remounts the nodes.
import { memo } from 'react';
import { Handle, Position, type NodeProps, type NodeTypes } from '@xyflow/react';
import { fanBadge, type FanProgress, type GateNode, type RunNode, type StepNode, type WorkflowNode } from '../lib/graph';
import { formatDuration } from '../lib/runState';

/** The expression, or a literal list shortened: a 10,000-item list does not belong in a tooltip. */
function forEachSummary(v: unknown): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) return '';
  const head = JSON.stringify(v.slice(0, 5));
  return v.length > 5 ? `${head.slice(0, -1)}, … ${v.length - 5} more]` : head;
}

function Badges({ step }: { step: StepNode['data']['step'] }) {
  const fan = fanBadge(step);
  return (
    <span className="node-badges">
      {fan && (
        <span className="badge fan" data-testid={`fan-badge-${step.id}`}
          title={`for_each: ${forEachSummary(step.for_each)}${step.max_parallel ? ` · ${step.max_parallel} at once` : ''}${step.fail_fast ? ' · fail fast' : ''}`}>
          {fan}
        </span>
      )}
      {step.if && <span className="badge" title={`if: ${step.if}`}>if</span>}
      {step.optional && <span className="badge" title="optional: may fail">opt</span>}
      {step.retry && <span className="badge" title={`retry: ${step.retry.max_attempts ?? '?'} attempts`}>↻{step.retry.max_attempts ?? ''}</span>}
      {step.timeout && <span className="badge" title={`timeout ${step.timeout}`}>{step.timeout}</span>}
    </span>
  );
}

/** The step type's icon from its plugin when it declares one, else the plugin's two-letter code. */
export function PluginMark({ plugin, icon }: { plugin: string; icon?: string }) {
  if (icon?.startsWith('data:image/')) {
    return <div className="node-plugin has-icon" data-plugin={plugin} title={plugin}><img src={icon} alt="" width={18} height={18} data-testid="step-icon" /></div>;
  }
  if (icon) return <div className="node-plugin has-icon" data-plugin={plugin} title={plugin}><span aria-hidden data-testid="step-icon">{icon}</span></div>;
  return <div className="node-plugin" data-plugin={plugin}>{plugin.slice(0, 2).toUpperCase()}</div>;
}

const COMPENSATION_LABEL = { compensating: 'undoing…', compensated: 'undone', failed: 'undo failed' } as const;

/**
 * A step's `compensate`, drawn as a dashed companion under its node: what undoes the step when the
 * run fails after it; in the run view, how the unwind went for it.
 */
function Companion({ step, vertical, compensation }: {
  step: StepNode['data']['step']; vertical: boolean; compensation?: keyof typeof COMPENSATION_LABEL | null;
}) {
  if (!step.compensate) return null;
  // Beside the node when the graph flows down (its edges leave from the bottom), under it otherwise.
  return (
    <div className={`compensate-companion${vertical ? ' beside' : ''}${compensation ? ` compensation-${compensation}` : ''}`} data-testid={`compensate-${step.id}`}
      data-compensation={compensation ?? undefined}
      title={`compensate: ${step.compensate.uses} — undoes ${step.id} if the run fails after it`}>
      <span aria-hidden>↺</span> {step.compensate.uses}
      {compensation && <span className="compensate-state"> · {COMPENSATION_LABEL[compensation]}</span>}
    </div>
  );
}

/** Extra classes of a node: a fan-out step is drawn as a stack of cards, a finally step in its lane's colours. */
function shapeClass(step: StepNode['data']['step'], lane: string): string {
  return `${step.for_each !== undefined ? ' stacked' : ''}${lane === 'finally' ? ' in-finally' : ''}`;
}

export const StepNodeView = memo(function StepNodeView({ data, selected }: NodeProps<StepNode>) {
  const hasErrors = data.errors.length > 0;
  return (
    <div
      className={`node node-step${shapeClass(data.step, data.lane)}${selected ? ' selected' : ''}${hasErrors ? ' has-errors' : ''}`}
      data-testid={`node-${data.step.id}`} data-lane={data.lane} data-stacked={data.step.for_each !== undefined || undefined}
      title={hasErrors ? data.errors.join('\n') : data.step.uses}
    >
      <Handle type="target" position={data.vertical ? Position.Top : Position.Left} />
      <PluginMark plugin={data.plugin} icon={data.icon} />
      <div className="node-body">
        <div className="node-id">{data.step.id}</div>
        <div className="node-type">{data.unknownType ? `⚠ unknown ${data.step.uses}` : data.title}</div>
      </div>
      <Badges step={data.step} />
      {hasErrors && <span className="node-error-count" aria-label={`${data.errors.length} problems`}>{data.errors.length}</span>}
      <Companion step={data.step} vertical={data.vertical} />
      <Handle type="source" position={data.vertical ? Position.Bottom : Position.Right} />
    </div>
  );
});

function GateIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden focusable="false">
      <path d="M8 1.5 2.5 3.5v4c0 3.3 2.3 5.9 5.5 7 3.2-1.1 5.5-3.7 5.5-7v-4z" fill="none" stroke="currentColor" strokeWidth="1.6" />
      <path d="m5.5 8 1.8 1.8L10.8 6.3" fill="none" stroke="currentColor" strokeWidth="1.6" />
    </svg>
  );
}

export const GateNodeView = memo(function GateNodeView({ data, selected }: NodeProps<GateNode>) {
  const hasErrors = data.errors.length > 0;
  return (
    <div
      className={`node node-gate${shapeClass(data.step, data.lane)}${selected ? ' selected' : ''}${hasErrors ? ' has-errors' : ''}`}
      data-testid={`node-${data.step.id}`} data-lane={data.lane} data-stacked={data.step.for_each !== undefined || undefined}
      title={hasErrors ? data.errors.join('\n') : 'Manual approval gate'}
    >
      <Handle type="target" position={data.vertical ? Position.Top : Position.Left} />
      <div className="node-plugin gate-icon"><GateIcon /></div>
      <div className="node-body">
        <div className="node-id">{data.step.id}</div>
        <div className="node-type">Approval gate</div>
      </div>
      <Badges step={data.step} />
      {hasErrors && <span className="node-error-count" aria-label={`${data.errors.length} problems`}>{data.errors.length}</span>}
      <Handle type="source" position={data.vertical ? Position.Bottom : Position.Right} />
    </div>
  );
});

/** Two nested frames: a workflow inside a workflow. */
export function SubWorkflowIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden focusable="false">
      <rect x="1.5" y="1.5" width="13" height="13" rx="2" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <rect x="5" y="5" width="6.5" height="6.5" rx="1.2" fill="currentColor" opacity=".85" />
    </svg>
  );
}

export const WorkflowNodeView = memo(function WorkflowNodeView({ data, selected }: NodeProps<WorkflowNode>) {
  const hasErrors = data.errors.length > 0;
  const child = data.step.uses.slice('workflow/'.length);
  return (
    <div
      className={`node node-workflow${shapeClass(data.step, data.lane)}${selected ? ' selected' : ''}${hasErrors ? ' has-errors' : ''}`}
      data-testid={`node-${data.step.id}`} data-lane={data.lane} data-kind="workflow" data-stacked={data.step.for_each !== undefined || undefined}
      title={hasErrors ? data.errors.join('\n') : `Runs workflow ${child} as a child run`}
    >
      <Handle type="target" position={data.vertical ? Position.Top : Position.Left} />
      <div className="node-plugin workflow-icon"><SubWorkflowIcon /></div>
      <div className="node-body">
        <div className="node-id">{data.step.id}</div>
        <div className="node-type" title={`Sub-workflow ${child}`}>↳ <strong>{child}</strong></div>
      </div>
      <Badges step={data.step} />
      {hasErrors && <span className="node-error-count" aria-label={`${data.errors.length} problems`}>{data.errors.length}</span>}
      <Handle type="source" position={data.vertical ? Position.Bottom : Position.Right} />
    </div>
  );
});

/** A thin bar of a fan-out's items: succeeded, failed, cancelled and running shares, the rest still to do. */
function FanBar({ progress }: { progress: FanProgress }) {
  const pct = (n: number) => `${progress.total ? (n / progress.total) * 100 : 0}%`;
  return (
    <span className="fan-bar" aria-hidden>
      <span className="fan-bar-ok" style={{ width: pct(progress.succeeded) }} />
      <span className="fan-bar-bad" style={{ width: pct(progress.failed) }} />
      <span className="fan-bar-off" style={{ width: pct(progress.cancelled) }} />
      <span className="fan-bar-run" style={{ width: pct(progress.running) }} />
    </span>
  );
}

const STATE_ICON: Record<string, string> = {
  pending: '○', running: '◐', retrying: '↻', awaiting_approval: '!', succeeded: '✓', failed: '✕', skipped: '⤼', cancelled: '⊘',
  compensated: '↺',
};


export const RunNodeView = memo(function RunNodeView({ data, selected }: NodeProps<RunNode>) {
  const fan = fanBadge(data.step);
  const sub = data.step.uses.startsWith('workflow/');
  return (
    <div
      className={`node node-run state-${data.state}${shapeClass(data.step, data.lane)}${sub ? ' node-workflow' : ''}${selected ? ' selected' : ''}`}
      data-testid={`run-node-${data.step.id}`}
      data-state={data.state} data-lane={data.lane} data-stacked={data.step.for_each !== undefined || undefined}
      title={`${data.step.id}: ${data.state}`}
    >
      <Handle type="target" position={data.vertical ? Position.Top : Position.Left} isConnectable={false} />
      <div className="node-state-icon" aria-hidden>{STATE_ICON[data.state] ?? '?'}</div>
      <div className="node-body">
        <div className="node-id">{data.step.id}</div>
        <div className="node-type">
          {data.state.replace('_', ' ')}
          {data.attempt > 1 && <span className="attempt"> · attempt {data.attempt}</span>}
          {data.durationMs != null && <span> · {formatDuration(data.durationMs)}</span>}
        </div>
        {data.progress && <FanBar progress={data.progress} />}
      </div>
      <Companion step={data.step} vertical={data.vertical} compensation={data.compensation} />
      {(data.progress || fan || sub) && (
        <span className="node-badges">
          {sub && (data.childRunId
            ? <a className="badge child-run nodrag nopan" href={`#/runs/${encodeURIComponent(data.childRunId)}`} data-testid={`child-run-${data.step.id}`}
              title={`Child run ${data.childRunId}`} onClick={(e) => e.stopPropagation()}>↳ child run</a>
            : <span className="badge" title={`Runs workflow ${data.step.uses.slice('workflow/'.length)}`}>↳ workflow</span>)}
          {(data.progress || fan) && (
            <span className="badge fan" data-testid={`fan-progress-${data.step.id}`}>
              {data.progress ? `${data.progress.done}/${data.progress.total}` : fan}
            </span>
          )}
        </span>
      )}
      <Handle type="source" position={data.vertical ? Position.Bottom : Position.Right} isConnectable={false} />
    </div>
  );
});

export const nodeTypes: NodeTypes = { step: StepNodeView, gate: GateNodeView, workflow: WorkflowNodeView, run: RunNodeView };
