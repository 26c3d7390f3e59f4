import { useEffect, useState } from 'react';
import YAML from 'yaml';
import { useWorkflow, useWorkflows } from '../api/hooks';
import type { Lane, StepDefinition, StepType, WorkflowDefinition } from '../api/types';
import { allSteps, checkStepId, isSubWorkflow, laneOf, normalizeDefinition, subWorkflowName } from '../lib/definition';
import { forEachText, parseForEach } from '../lib/fanout';
import { messagesBySection, toErrorSchema, type StepIssue } from '../lib/pointer';
import { canCompensate } from '../lib/compensate';
import { CompensateSection } from './CompensateSection';
import { ExpressionInput } from './ExpressionInput';
import { SchemaForm } from './SchemaForm';
import { sameValue } from '../lib/formSchema';

interface Props {
  definition: WorkflowDefinition;
  step: StepDefinition;
  stepType?: StepType;
  /** The palette's step types: the compensation's picker offers them. */
  stepTypes?: StepType[];
  issues: StepIssue[];
  readOnly: boolean;
  onChange: (patch: Partial<StepDefinition>) => void;
  onRename: (newId: string) => void;
  onDelete: () => void;
  onMoveLane: (lane: Lane) => void;
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

export function StepPanel({ definition, step, stepType, stepTypes = [], issues, readOnly, onChange, onRename, onDelete, onMoveLane }: Props) {
  const [idError, setIdError] = useState<string | null>(null);
  const lane = laneOf(definition, step.id) ?? 'main';
  // Needs stay inside a lane (finally steps need finally steps only).
  const sameLane = allSteps(definition).filter((s) => (laneOf(definition, s.id) ?? 'main') === lane);
  const others = sameLane.filter((s) => s.id !== step.id && !(step.needs ?? []).includes(s.id));
  const sub = isSubWorkflow(step.uses);
  const sec = (s: Parameters<typeof messagesBySection>[1]) => messagesBySection(issues, s);
  const retry = step.retry ?? {};
  const setRetry = (patch: Record<string, unknown>) => {
    const next = { ...retry, ...patch };
    for (const [k, v] of Object.entries(next)) if (v === '' || v === undefined || Number.isNaN(v)) delete (next as Record<string, unknown>)[k];
    onChange({ retry: Object.keys(next).length ? next : undefined });
  };
  // A finally step or a gate has no compensation to edit: a `compensate` it has is a problem said up top.
  const undoShown = lane === 'main' && canCompensate(step);
  const configSchema = stepType?.config_schema;
  const hasConfig = !!configSchema && Object.keys(configSchema.properties ?? {}).length > 0;
  return (
    <div className="panel-inner" role="group" aria-label={`Step ${step.id}`}>
      <div className="panel-title">
        <div>
          <h2>{step.id}</h2>
          <div className="muted">{sub ? 'Sub-workflow' : stepType?.title ?? step.uses} · <code>{step.uses}</code></div>
        </div>
        {!readOnly && <button className="btn danger small" onClick={onDelete}>Delete</button>}
      </div>
      {stepType?.description && <p className="muted small-text">{stepType.description}</p>}
      <FieldErrors messages={[...sec('step'), ...sec('uses'), ...sec('other'), ...(undoShown ? [] : sec('compensate'))]} />

      {/* What a step does comes first: its configuration, then how it runs. */}
      {sub ? <SubWorkflowSection step={step} readOnly={readOnly} onChange={onChange} issues={issues} messages={sec('with')} /> : (
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
              // rjsf reports on mount and reorders keys to the schema's order: only a real change is an edit.
              const cleaned = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
              if (!sameValue(cleaned, step.with ?? {})) onChange({ with: Object.keys(cleaned).length ? cleaned : undefined });
            }}
          />
        ) : (
          <p className="muted">{stepType ? 'This step type takes no configuration.' : 'Unknown step type: edit `with` in the YAML view.'}</p>
        )}
        <FieldErrors messages={sec('with').filter(() => !hasConfig)} />
      </section>
      )}

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
        <ExpressionInput id="step-if" kind="if" label="the condition" value={step.if ?? ''}
          placeholder={lane === 'finally' ? '${{ failure() }}' : "${{ params.part != 'patch' }}"} disabled={readOnly}
          onCommit={(v) => onChange({ if: v })} invalid={sec('if').length > 0} />
        <FieldErrors messages={sec('if')} />

        <label htmlFor="step-lane">Runs</label>
        <select id="step-lane" value={lane} disabled={readOnly} onChange={(e) => onMoveLane(e.target.value as Lane)}>
          <option value="main">in the main graph</option>
          <option value="finally">finally: after every other step, whatever happened</option>
        </select>
        {lane === 'finally' && <p className="field-description">A finally step may need other finally steps only; in its <code>if:</code>, <code>failure()</code> and <code>cancelled()</code> refer to how the run ends.</p>}

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

      <FanOutSection step={step} readOnly={readOnly} onChange={onChange} messages={[...sec('for_each'), ...sec('max_parallel'), ...sec('fail_fast')]} />

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

      {undoShown && (
        <CompensateSection step={step} stepTypes={stepTypes} issues={issues} readOnly={readOnly} onChange={onChange} />
      )}
    </div>
  );
}

type FanMode = 'none' | 'expression' | 'list';

/** `for_each` (an expression or a literal list), `max_parallel` and `fail_fast`. */
function FanOutSection({ step, readOnly, onChange, messages }: { step: StepDefinition; readOnly: boolean; onChange: (p: Partial<StepDefinition>) => void; messages: string[] }) {
  const mode: FanMode = Array.isArray(step.for_each) ? 'list' : typeof step.for_each === 'string' ? 'expression' : 'none';
  const [listText, setListText] = useState(forEachText(step.for_each));
  const [listError, setListError] = useState<string | null>(null);
  useEffect(() => { setListText(forEachText(step.for_each)); setListError(null); }, [step.for_each]);
  const setMode = (m: FanMode) => {
    if (m === 'none') onChange({ for_each: undefined, max_parallel: undefined, fail_fast: undefined });
    else if (m === 'expression') onChange({ for_each: typeof step.for_each === 'string' ? step.for_each : '${{ params.items }}' });
    else onChange({ for_each: Array.isArray(step.for_each) ? step.for_each : [] });
  };
  const count = Array.isArray(step.for_each) ? step.for_each.length : null;
  return (
    <section className="panel-section" aria-labelledby="fan-title" data-testid="fan-out-section">
      <h3 id="fan-title">Fan-out <span className="muted small-text">(one instance per item)</span></h3>
      <label htmlFor="step-for-each-mode">For each</label>
      <select id="step-for-each-mode" value={mode} disabled={readOnly} onChange={(e) => setMode(e.target.value as FanMode)}>
        <option value="none">no fan-out: runs once</option>
        <option value="expression">item of an expression's list</option>
        <option value="list">item of a list written here</option>
      </select>
      {mode === 'expression' && (
        <>
          <label htmlFor="step-for-each">List expression</label>
          <ExpressionInput id="step-for-each" kind="value" label="for_each" value={typeof step.for_each === 'string' ? step.for_each : ''}
            placeholder="${{ params.names }}" disabled={readOnly} invalid={messages.length > 0}
            onCommit={(v) => onChange({ for_each: v || undefined })} />
        </>
      )}
      {mode === 'list' && (
        <>
          <label htmlFor="step-for-each-list">Items <span className="muted">(YAML or JSON list{count != null ? `, ${count} item${count === 1 ? '' : 's'}` : ''})</span></label>
          <textarea id="step-for-each-list" className="mono" rows={4} value={listText} disabled={readOnly} spellCheck={false}
            aria-invalid={!!listError || undefined}
            onChange={(e) => setListText(e.target.value)}
            onBlur={() => {
              const parsed = parseForEach(listText);
              setListError(parsed.ok ? null : parsed.error);
              if (parsed.ok && JSON.stringify(parsed.value) !== JSON.stringify(step.for_each)) onChange({ for_each: parsed.value });
            }} />
          <FieldErrors messages={listError ? [listError] : []} />
        </>
      )}
      {mode !== 'none' && (
        <>
          <p className="field-description">In this step, <code>{'${{ item }}'}</code> is the element and <code>{'${{ item_index }}'}</code> its index; later steps read <code>steps.{step.id}.outputs</code> as the list of the items' outputs.</p>
          <div className="row gap">
            <div className="grow">
              <label htmlFor="step-max-parallel">At most at once</label>
              <input id="step-max-parallel" type="number" min={1} max={10000} step={1} placeholder="run's limit" value={step.max_parallel ?? ''} disabled={readOnly}
                onChange={(e) => {
                  const n = Math.floor(Number(e.target.value));
                  onChange({ max_parallel: e.target.value === '' || !Number.isFinite(n) || n < 1 ? undefined : Math.min(n, 10000) });
                }} />
            </div>
            <label className="check" htmlFor="step-fail-fast">
              <input id="step-fail-fast" type="checkbox" checked={!!step.fail_fast} disabled={readOnly}
                onChange={(e) => onChange({ fail_fast: e.target.checked || undefined })} />
              Fail fast
            </label>
          </div>
          <p className="field-description">Fail fast: the first failed item cancels the rest.</p>
        </>
      )}
      <FieldErrors messages={messages} />
    </section>
  );
}

/** A `workflow/<name>` step: which stored workflow, which version, and the child run's parameters. */
function SubWorkflowSection({ step, readOnly, onChange, issues, messages }: {
  step: StepDefinition; readOnly: boolean; onChange: (p: Partial<StepDefinition>) => void; issues: StepIssue[]; messages: string[];
}) {
  const name = subWorkflowName(step.uses);
  const workflows = useWorkflows();
  const child = useWorkflow(name || null);
  const w = (step.with ?? {}) as { version?: unknown; parameters?: unknown };
  const setWith = (patch: Record<string, unknown>) => {
    const next: Record<string, unknown> = { ...(step.with ?? {}), ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete next[k];
    onChange({ with: Object.keys(next).length ? next : undefined });
  };
  const schema = normalizeDefinition(child.data?.definition).spec.parameters;
  const hasSchema = !!schema && Object.keys(schema.properties ?? {}).length > 0;
  const params = w.parameters && typeof w.parameters === 'object' && !Array.isArray(w.parameters) ? w.parameters as Record<string, unknown> : {};
  const names = (workflows.data ?? []).map((x) => x.name);
  return (
    <section className="panel-section" data-testid="sub-workflow-section">
      <h3>Sub-workflow <span className="muted small-text">(a child run of its own)</span></h3>
      <label htmlFor="sub-workflow">Workflow</label>
      <select id="sub-workflow" value={name} disabled={readOnly} onChange={(e) => onChange({ uses: `workflow/${e.target.value}` })}>
        {!names.includes(name) && <option value={name}>{name || '—'}</option>}
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
      {name && <p className="field-description"><a href={`#/workflows/${encodeURIComponent(name)}`}>Open {name}</a> · its outputs become this step's outputs, with <code>child_run_id</code>.</p>}
      <label htmlFor="sub-version">Version</label>
      <input id="sub-version" type="number" min={1} step={1} placeholder={`latest at run start${child.data ? ` (now v${child.data.version})` : ''}`}
        value={typeof w.version === 'number' ? w.version : ''} disabled={readOnly}
        onChange={(e) => {
          const n = Math.floor(Number(e.target.value));
          setWith({ version: e.target.value === '' || !Number.isFinite(n) || n < 1 ? undefined : n });
        }} />
      <span className="label">Parameters <span className="muted">(fields accept <code>{'${{ … }}'}</code>)</span></span>
      {hasSchema ? (
        <SchemaForm key={`${step.id}:${name}`} idPrefix={`sub-${step.id}`} schema={{ ...schema!, title: undefined }} formData={params}
          allowExpressions readOnly={readOnly} extraErrors={((toErrorSchema(issues) as Record<string, unknown>).parameters ?? {}) as never}
          onChange={(data) => {
            const cleaned = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
            if (!sameValue(cleaned, params)) setWith({ parameters: Object.keys(cleaned).length ? cleaned : undefined });
          }} />
      ) : (
        <ParametersText value={params} readOnly={readOnly} onCommit={(v) => setWith({ parameters: Object.keys(v).length ? v : undefined })} />
      )}
      <FieldErrors messages={messages} />
    </section>
  );
}

function ParametersText({ value, readOnly, onCommit }: { value: Record<string, unknown>; readOnly: boolean; onCommit: (v: Record<string, unknown>) => void }) {
  const text = Object.keys(value).length ? YAML.stringify(value) : '';
  const [v, setV] = useState(text);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setV(text), [text]);
  return (
    <>
      <textarea id="sub-parameters" aria-label="Parameters (YAML)" className="mono" rows={4} value={v} disabled={readOnly} spellCheck={false}
        placeholder={'package: ${{ item }}'} onChange={(e) => setV(e.target.value)}
        onBlur={() => {
          try {
            const parsed: unknown = v.trim() ? YAML.parse(v) : {};
            if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('Parameters are a mapping of name: value');
            setError(null);
            if (JSON.stringify(parsed) !== JSON.stringify(value)) onCommit(parsed as Record<string, unknown>);
          } catch (err) {
            setError((err as Error).message);
          }
        }} />
      <FieldErrors messages={error ? [error] : []} />
    </>
  );
}
