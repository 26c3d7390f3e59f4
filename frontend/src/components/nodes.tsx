// One memoised component per node kind; `nodeTypes` lives at module scope so React Flow never
// sees a new object and remounts the nodes.
import { memo } from 'react';
import { Handle, Position, type NodeProps, type NodeTypes } from '@xyflow/react';
import type { GateNode, RunNode, StepNode } from '../lib/graph';
import { formatDuration } from '../lib/runState';

function Badges({ step }: { step: StepNode['data']['step'] }) {
  return (
    <span className="node-badges">
      {step.if && <span className="badge" title={`if: ${step.if}`}>if</span>}
      {step.optional && <span className="badge" title="optional: may fail">opt</span>}
      {step.retry && <span className="badge" title={`retry: ${step.retry.max_attempts ?? '?'} attempts`}>↻{step.retry.max_attempts ?? ''}</span>}
      {step.timeout && <span className="badge" title={`timeout ${step.timeout}`}>{step.timeout}</span>}
    </span>
  );
}

export const StepNodeView = memo(function StepNodeView({ data, selected }: NodeProps<StepNode>) {
  const hasErrors = data.errors.length > 0;
  return (
    <div
      className={`node node-step${selected ? ' selected' : ''}${hasErrors ? ' has-errors' : ''}`}
      data-testid={`node-${data.step.id}`}
      title={hasErrors ? data.errors.join('\n') : data.step.uses}
    >
      <Handle type="target" position={data.vertical ? Position.Top : Position.Left} />
      <div className="node-plugin" data-plugin={data.plugin}>{data.plugin.slice(0, 2).toUpperCase()}</div>
      <div className="node-body">
        <div className="node-id">{data.step.id}</div>
        <div className="node-type">{data.unknownType ? `⚠ unknown ${data.step.uses}` : data.title}</div>
      </div>
      <Badges step={data.step} />
      {hasErrors && <span className="node-error-count" aria-label={`${data.errors.length} problems`}>{data.errors.length}</span>}
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
      className={`node node-gate${selected ? ' selected' : ''}${hasErrors ? ' has-errors' : ''}`}
      data-testid={`node-${data.step.id}`}
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

const STATE_ICON: Record<string, string> = {
  pending: '○', running: '◐', retrying: '↻', awaiting_approval: '!', succeeded: '✓', failed: '✕', skipped: '⤼', cancelled: '⊘',
};

export const RunNodeView = memo(function RunNodeView({ data, selected }: NodeProps<RunNode>) {
  return (
    <div
      className={`node node-run state-${data.state}${selected ? ' selected' : ''}`}
      data-testid={`run-node-${data.step.id}`}
      data-state={data.state}
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
      </div>
      <Handle type="source" position={data.vertical ? Position.Bottom : Position.Right} isConnectable={false} />
    </div>
  );
});

export const nodeTypes: NodeTypes = { step: StepNodeView, gate: GateNodeView, run: RunNodeView };
