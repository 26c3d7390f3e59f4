import { useEffect, useState } from 'react';
import type { JSONSchema7, ValidationIssue, WorkflowDefinition } from '../api/types';

interface Props {
  definition: WorkflowDefinition;
  isNew: boolean;
  readOnly: boolean;
  general: ValidationIssue[];
  onChange: (def: WorkflowDefinition) => void;
}

/** Shown when no step is selected: metadata and the run parameters' JSON Schema. */
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
