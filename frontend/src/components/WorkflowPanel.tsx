import { useEffect, useState } from 'react';
import type { OnConflict, ValidationIssue, WorkflowDefinition } from '../api/types';
import { ON_CONFLICT_VALUES } from '../api/types';
import { checkOutputName, concurrencySpecOf, formatOutputValue, outputsOf, parseOutputValue, setConcurrency, setOutputs } from '../lib/definition';
import { ExpressionInput } from './ExpressionInput';
import { TriggersSection } from './TriggersSection';
import { DurationHistory } from './DurationHistory';
import { ParametersEditor } from './ParametersEditor';

interface Props {
  definition: WorkflowDefinition;
  isNew: boolean;
  readOnly: boolean;
  general: ValidationIssue[];
  onChange: (def: WorkflowDefinition) => void;
}

/** Shown when no step is selected: metadata, the concurrency key, triggers, outputs and the run parameters' JSON Schema. */
export function WorkflowPanel({ definition, isNew, readOnly, general, onChange }: Props) {
  const md = definition.metadata;
  const setMeta = (patch: Record<string, unknown>) => onChange({ ...definition, metadata: { ...md, ...patch } });
  return (
    <div className="panel-inner" role="group" aria-label="Workflow settings">
      <div className="panel-title"><h2>Workflow</h2></div>
      {general.length > 0 && (
        <div className="error-box" role="alert">
          <strong>{general.length} problem(s)</strong>
          <ul>{general.map((g, i) => <li key={i}><code>{g.pointer}</code> {g.message}</li>)}</ul>
        </div>
      )}
      <section className="panel-section">
        <label htmlFor="wf-name">Name</label>
        <input id="wf-name" value={md.name} disabled={!isNew || readOnly} onChange={(e) => setMeta({ name: e.target.value })}
          placeholder="release-python" />
        <label htmlFor="wf-type">Type</label>
        <input id="wf-type" value={md.type ?? ''} disabled={readOnly} onChange={(e) => setMeta({ type: e.target.value || undefined })} placeholder="release" />
        <label htmlFor="wf-description">Description</label>
        <textarea id="wf-description" rows={2} value={md.description ?? ''} disabled={readOnly}
          onChange={(e) => setMeta({ description: e.target.value })} />
      </section>
      <ConcurrencySection definition={definition} readOnly={readOnly} onChange={onChange} />
      <TriggersSection definition={definition} saved={isNew ? null : md.name} readOnly={readOnly} issues={general} onChange={onChange} />
      <OutputsSection definition={definition} readOnly={readOnly} onChange={onChange} />
      <ParametersEditor schema={definition.spec.parameters} readOnly={readOnly}
        onChange={(parameters) => onChange({ ...definition, spec: { ...definition.spec, parameters } })} />
      {!isNew && md.name && <DurationHistory workflow={md.name} definition={definition} />}
      <p className="muted small-text">Tip: select a step to edit it; drag from a step's outgoing handle (right, or bottom in a top-to-bottom graph) to another step to add a dependency.</p>
    </div>
  );
}

const ON_CONFLICT_HELP: Record<OnConflict, string> = {
  queue: 'wait in line for a slot',
  cancel_pending: 'cancel runs still waiting, then wait',
  fail: 'refuse to start while the key is taken',
};

/** The text fields commit on blur or Enter, like the step panel's, so typing is one undo step. */
function CommitText(p: { id: string; value: string; onCommit: (v: string) => void; placeholder?: string; disabled?: boolean; className?: string }) {
  const [v, setV] = useState(p.value);
  useEffect(() => setV(p.value), [p.value]);
  return (
    <input id={p.id} className={p.className} value={v} placeholder={p.placeholder} disabled={p.disabled} spellCheck={false}
      onChange={(e) => setV(e.target.value)}
      onBlur={() => v !== p.value && p.onCommit(v)}
      onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()} />
  );
}

/**
 * `spec.concurrency`: runs whose rendered key is equal share `limit` slots; the rest wait (or are
 * cancelled, or refused). Clearing the key removes the block.
 */
function ConcurrencySection({ definition, readOnly, onChange }: { definition: WorkflowDefinition; readOnly: boolean; onChange: (def: WorkflowDefinition) => void }) {
  const c = concurrencySpecOf(definition);
  const keyed = !!c;
  return (
    <section className="panel-section" aria-labelledby="wf-concurrency-title" data-testid="concurrency-section">
      <h3 id="wf-concurrency-title">Concurrency <span className="muted small-text">(one run per key at a time)</span></h3>
      <label htmlFor="wf-concurrency-key">Concurrency key</label>
      <CommitText id="wf-concurrency-key" className="mono" value={c?.key ?? ''} disabled={readOnly}
        placeholder="release:${{ params.repo }}"
        onCommit={(key) => onChange(setConcurrency(definition, keyed ? { key } : { key, limit: 1, on_conflict: 'queue' }))} />
      <p className="field-description">Runs with the same key share the slots; empty: no limit.</p>
      <div className="grid2">
        <div>
          <label htmlFor="wf-concurrency-limit">Limit</label>
          <input id="wf-concurrency-limit" type="number" min={1} step={1} value={c?.limit ?? 1} disabled={readOnly || !keyed}
            onChange={(e) => {
              const n = Math.floor(Number(e.target.value));
              if (Number.isFinite(n) && n >= 1) onChange(setConcurrency(definition, { limit: n }));
            }} />
        </div>
        <div>
          <label htmlFor="wf-concurrency-conflict">When taken</label>
          <select id="wf-concurrency-conflict" value={c?.on_conflict ?? 'queue'} disabled={readOnly || !keyed}
            onChange={(e) => onChange(setConcurrency(definition, { on_conflict: e.target.value as OnConflict }))}>
            {ON_CONFLICT_VALUES.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
        </div>
      </div>
      {keyed && <p className="field-description">{ON_CONFLICT_HELP[c.on_conflict ?? 'queue']}</p>}
    </section>
  );
}

/**
 * `spec.outputs`: name → value, evaluated when the run ends and returned on the run (and to a parent
 * workflow that calls this one). Renaming keeps the order; an emptied list removes the key.
 */
function OutputsSection({ definition, readOnly, onChange }: { definition: WorkflowDefinition; readOnly: boolean; onChange: (def: WorkflowDefinition) => void }) {
  const outputs = outputsOf(definition);
  const entries = Object.entries(outputs);
  const [nameErrors, setNameErrors] = useState<Record<string, string>>({});
  const [newName, setNewName] = useState('');
  const [newError, setNewError] = useState<string | null>(null);
  const rename = (old: string, name: string) => {
    const err = checkOutputName(outputs, old, name);
    setNameErrors((e) => ({ ...e, [old]: err ?? '' }));
    if (err || name === old) return;
    onChange(setOutputs(definition, Object.fromEntries(entries.map(([k, v]) => [k === old ? name : k, v]))));
  };
  const add = () => {
    const name = newName.trim();
    const err = checkOutputName(outputs, null, name);
    setNewError(err);
    if (err) return;
    onChange(setOutputs(definition, { ...outputs, [name]: '' }));
    setNewName('');
  };
  return (
    <section className="panel-section" aria-labelledby="wf-outputs-title" data-testid="outputs-section">
      <h3 id="wf-outputs-title">Outputs <span className="muted small-text">(evaluated when the run ends)</span></h3>
      {entries.map(([k, v], i) => (
        <div className="output-row" key={`${i}:${k}`} data-testid={`output-${k}`}>
          <div className="output-name">
            <label htmlFor={`wf-output-name-${i}`} className="sr-only">Output name</label>
            <CommitText id={`wf-output-name-${i}`} className="mono" value={k} disabled={readOnly} onCommit={(name) => rename(k, name)} />
            {!readOnly && <button className="link" aria-label={`Remove output ${k}`}
              onClick={() => onChange(setOutputs(definition, Object.fromEntries(entries.filter(([x]) => x !== k))))}>×</button>}
          </div>
          {nameErrors[k] && <ul className="field-errors"><li>{nameErrors[k]}</li></ul>}
          <label htmlFor={`wf-output-value-${i}`} className="sr-only">Value of {k}</label>
          <ExpressionInput id={`wf-output-value-${i}`} kind="value" label={`output ${k}`} value={formatOutputValue(v)} disabled={readOnly}
            placeholder="${{ steps.bump.outputs.version }}"
            onCommit={(text) => onChange(setOutputs(definition, { ...outputs, [k]: parseOutputValue(text) }))} />
        </div>
      ))}
      {!readOnly && (
        <div className="row gap">
          <label htmlFor="wf-output-new" className="sr-only">New output name</label>
          <input id="wf-output-new" className="mono grow" value={newName} placeholder="version" spellCheck={false}
            onChange={(e) => { setNewName(e.target.value); setNewError(null); }}
            onKeyDown={(e) => e.key === 'Enter' && add()} aria-invalid={!!newError || undefined} />
          <button className="btn small" onClick={add} disabled={!newName.trim()}>+ Add output</button>
        </div>
      )}
      {newError && <ul className="field-errors"><li>{newError}</li></ul>}
      <p className="field-description">A value may be text with <code>{'${{ }}'}</code> or any JSON value. A workflow called as a sub-workflow hands these to its caller's step.</p>
    </section>
  );
}
