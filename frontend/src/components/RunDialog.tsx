import { useState } from 'react';
import { useStartRun } from '../api/hooks';
import type { JSONSchema7, Workflow, WorkflowDefinition } from '../api/types';
import { navigate } from '../router';
import { ApiError } from '../api/problem';
import { conflictOf, shortId } from '../lib/queue';
import { ErrorBox, Modal } from './common';
import { SchemaForm } from './SchemaForm';

/** The run form is generated from spec.parameters; dry run asks every step for a plan only. */
export function RunDialog({ workflow, definition, version, onClose }: { workflow: Workflow; definition: WorkflowDefinition; version?: number; onClose: () => void }) {
  const start = useStartRun();
  const [dryRun, setDryRun] = useState(true);
  const [params, setParams] = useState<Record<string, unknown>>({});
  const schema: JSONSchema7 = definition.spec.parameters ?? { type: 'object', properties: {} };
  const submit = async (data: Record<string, unknown>) => {
    try {
      const run = await start.mutateAsync({ name: workflow.name, parameters: data, dry_run: dryRun, version });
      onClose();
      navigate(`/runs/${encodeURIComponent(run.id)}`);
    } catch {
      /* shown below */
    }
  };
  return (
    <Modal title={`Run ${workflow.name} (v${version ?? workflow.version})`} onClose={onClose}>
      <div className="run-dialog">
        <label className="check switch" htmlFor="dry-run">
          <input id="dry-run" type="checkbox" role="switch" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} data-testid="dry-run" />
          Dry run <span className="muted small-text">— every step reports what it would do; nothing changes</span>
        </label>
        <SchemaForm idPrefix="param" schema={{ ...schema, title: schema.title ?? 'Parameters' }} formData={params}
          onChange={setParams} onSubmit={submit} submitLabel={dryRun ? 'Start dry run' : 'Start run'} />
        <ErrorBox error={start.error} />
        <HeldBy error={start.error} />
      </div>
    </Modal>
  );
}

/** A refused start of a keyed workflow (`on_conflict: fail`, 409) links the runs holding the key. */
function HeldBy({ error }: { error: unknown }) {
  const conflict = error instanceof ApiError && error.status === 409 ? conflictOf(error.problem) : null;
  if (!conflict) return null;
  return (
    <p className="small-text" data-testid="held-by">
      Key <code>{conflict.key}</code> is held by{' '}
      {conflict.blocked_by.map((id, i) => (
        <span key={id}>{i > 0 && ', '}run <a href={`#/runs/${encodeURIComponent(id)}`}>{shortId(id)}</a></span>
      ))}.
    </p>
  );
}
