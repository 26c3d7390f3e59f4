import { useEffect, useState } from 'react';
import type { JSONSchema7, OnConflict, ValidationIssue, WorkflowDefinition } from '../api/types';
import { ON_CONFLICT_VALUES } from '../api/types';
import { concurrencySpecOf, setConcurrency } from '../lib/definition';

interface Props {
  definition: WorkflowDefinition;
  isNew: boolean;
  readOnly: boolean;
  general: ValidationIssue[];
  onChange: (def: WorkflowDefinition) => void;
}

/** Shown when no step is selected: metadata, the concurrency key and the run parameters' JSON Schema. */
export function WorkflowPanel({ definition, isNew, readOnly, general, onChange }: Props) {
  const md = definition.metadata;
  const paramsText = JSON.stringify(definition.spec.parameters ?? { type: 'object', properties: {} }, null, 2);
  const [text, setText] = useState(paramsText);
  const [parseError, setParseError] = useState<string | null>(null);
  useEffect(() => setText(paramsText), [paramsText]);
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
      <section className="panel-section">
        <h3>Run parameters <span className="muted small-text">(JSON Schema)</span></h3>
        <label htmlFor="wf-params" className="sr-only">Parameters JSON Schema</label>
        <textarea id="wf-params" className="mono" rows={14} value={text} disabled={readOnly} spellCheck={false}
          onChange={(e) => setText(e.target.value)}
          onBlur={() => {
            try {
              const parsed = JSON.parse(text) as JSONSchema7;
              setParseError(null);
              if (JSON.stringify(parsed) !== JSON.stringify(definition.spec.parameters)) {
                onChange({ ...definition, spec: { ...definition.spec, parameters: parsed } });
              }
            } catch (err) {
              setParseError((err as Error).message);
            }
          }} />
        {parseError && <ul className="field-errors"><li>{parseError}</li></ul>}
      </section>
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
