import { useEffect, useState } from 'react';
import type { StepDefinition, StepType, WorkflowDefinition } from '../api/types';
import { checkStepId } from '../lib/definition';
import { messagesBySection, toErrorSchema, type StepIssue } from '../lib/pointer';
import { SchemaForm } from './SchemaForm';

interface Props {
  definition: WorkflowDefinition;
  step: StepDefinition;
  stepType?: StepType;
  issues: StepIssue[];
  readOnly: boolean;
  onChange: (patch: Partial<StepDefinition>) => void;
  onRename: (newId: string) => void;
  onDelete: () => void;
}

function FieldErrors({ messages }: { messages: string[] }) {
  if (!messages.length) return null;
  return <ul className="field-errors">{messages.map((m, i) => <li key={i}>{m}</li>)}</ul>;
}

/** Text input that commits on blur/Enter, so typing does not spam the undo history. */
function CommitInput(p: { id: string; value: string; onCommit: (v: string) => void; placeholder?: string; disabled?: boolean; mono?: boolean; invalid?: boolean }) {
  const [v, setV] = useState(p.value);
  useEffect(() => setV(p.value), [p.value]);
  return (
    <input id={p.id} value={v} placeholder={p.placeholder} disabled={p.disabled} aria-invalid={p.invalid || undefined}
      className={p.mono ? 'mono' : undefined}
      onChange={(e) => setV(e.target.value)}
      onBlur={() => v !== p.value && p.onCommit(v)}
      onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()} />
  );
}

export function StepPanel({ definition, step, stepType, issues, readOnly, onChange, onRename, onDelete }: Props) {
  const [idError, setIdError] = useState<string | null>(null);
  const others = definition.spec.steps.filter((s) => s.id !== step.id && !(step.needs ?? []).includes(s.id));
  const sec = (s: Parameters<typeof messagesBySection>[1]) => messagesBySection(issues, s);
  const retry = step.retry ?? {};
  const setRetry = (patch: Record<string, unknown>) => {
    const next = { ...retry, ...patch };
    for (const [k, v] of Object.entries(next)) if (v === '' || v === undefined || Number.isNaN(v)) delete (next as Record<string, unknown>)[k];
    onChange({ retry: Object.keys(next).length ? next : undefined });
  };
  const configSchema = stepType?.config_schema;
  const hasConfig = !!configSchema && Object.keys(configSchema.properties ?? {}).length > 0;
  return (
    <div className="panel-inner" role="group" aria-label={`Step ${step.id}`}>
      <div className="panel-title">
        <div>
          <h2>{step.id}</h2>
          <div className="muted">{stepType?.title ?? step.uses} · <code>{step.uses}</code></div>
        </div>
        {!readOnly && <button className="btn danger small" onClick={onDelete}>Delete</button>}
      </div>
      {stepType?.description && <p className="muted small-text">{stepType.description}</p>}
      <FieldErrors messages={[...sec('step'), ...sec('uses'), ...sec('other')]} />

      <section className="panel-section">
        <h3>Step</h3>
        <label htmlFor="step-id">Id</label>
        <CommitInput id="step-id" value={step.id} disabled={readOnly} invalid={!!idError} onCommit={(v) => {
          const err = checkStepId(definition, step.id, v);
          setIdError(err);
          if (!err) onRename(v);
        }} />
        <FieldErrors messages={[...(idError ? [idError] : []), ...sec('id')]} />

        <span className="label" id="needs-label">Needs</span>
        <div className="chips" role="group" aria-labelledby="needs-label">
          {(step.needs ?? []).map((n) => (
            <span className="chip" key={n}>{n}{!readOnly && (
              <button className="link" aria-label={`Remove dependency on ${n}`}
                onClick={() => onChange({ needs: (step.needs ?? []).filter((x) => x !== n) })}>×</button>)}
            </span>
          ))}
          {!readOnly && others.length > 0 && (
            <select aria-label="Add dependency" value="" onChange={(e) => e.target.value && onChange({ needs: [...(step.needs ?? []), e.target.value] })}>
              <option value="">+ add…</option>
              {others.map((s) => <option key={s.id} value={s.id}>{s.id}</option>)}
            </select>
          )}
        </div>
        <FieldErrors messages={sec('needs')} />

        <label htmlFor="step-if">Condition (if)</label>
        <CommitInput id="step-if" mono value={step.if ?? ''} placeholder="${{ params.part != 'patch' }}" disabled={readOnly}
          onCommit={(v) => onChange({ if: v })} invalid={sec('if').length > 0} />
        <FieldErrors messages={sec('if')} />

        <div className="row gap">
          <div className="grow">
            <label htmlFor="step-timeout">Timeout</label>
            <CommitInput id="step-timeout" value={step.timeout ?? ''} placeholder="60s" disabled={readOnly}
              onCommit={(v) => onChange({ timeout: v })} invalid={sec('timeout').length > 0} />
          </div>
          <label className="check" htmlFor="step-optional">
            <input id="step-optional" type="checkbox" checked={!!step.optional} disabled={readOnly}
              onChange={(e) => onChange({ optional: e.target.checked || undefined })} />
            Optional
          </label>
        </div>
        <FieldErrors messages={[...sec('timeout'), ...sec('optional')]} />
      </section>

      <section className="panel-section">
        <h3>Retry</h3>
        <div className="grid2">
          <div>
            <label htmlFor="retry-max">Max attempts</label>
            <input id="retry-max" type="number" min={1} value={retry.max_attempts ?? ''} disabled={readOnly}
              onChange={(e) => setRetry({ max_attempts: e.target.value === '' ? undefined : Number(e.target.value) })} />
          </div>
          <div>
            <label htmlFor="retry-backoff">Backoff</label>
            <select id="retry-backoff" value={retry.backoff ?? ''} disabled={readOnly} onChange={(e) => setRetry({ backoff: e.target.value || undefined })}>
              <option value="">default</option>
              <option value="fixed">fixed</option>
              <option value="exponential">exponential</option>
            </select>
          </div>
          <div>
            <label htmlFor="retry-initial">Initial interval</label>
            <CommitInput id="retry-initial" value={retry.initial_interval ?? ''} placeholder="1s" disabled={readOnly}
              onCommit={(v) => setRetry({ initial_interval: v })} />
          </div>
          <div>
            <label htmlFor="retry-max-interval">Max interval</label>
            <CommitInput id="retry-max-interval" value={retry.max_interval ?? ''} placeholder="30s" disabled={readOnly}
              onCommit={(v) => setRetry({ max_interval: v })} />
          </div>
        </div>
        <FieldErrors messages={sec('retry')} />
      </section>

      <section className="panel-section">
        <h3>Configuration <span className="muted small-text">(fields accept <code>{'${{ … }}'}</code>)</span></h3>
        {hasConfig ? (
          <SchemaForm
            key={step.id}
            idPrefix={`cfg-${step.id}`}
            schema={{ ...configSchema!, title: undefined }}
            formData={step.with ?? {}}
            allowExpressions
            readOnly={readOnly}
            extraErrors={toErrorSchema(issues) as never}
            onChange={(data) => {
              const cleaned = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
              if (JSON.stringify(cleaned) !== JSON.stringify(step.with ?? {})) onChange({ with: Object.keys(cleaned).length ? cleaned : undefined });
            }}
          />
        ) : (
          <p className="muted">{stepType ? 'This step type takes no configuration.' : 'Unknown step type: edit `with` in the YAML view.'}</p>
        )}
        <FieldErrors messages={sec('with').filter(() => !hasConfig)} />
      </section>
    </div>
  );
}
