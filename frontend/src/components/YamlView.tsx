import { useEffect, useRef, useState } from 'react';
import YAML from 'yaml';
import type { WorkflowDefinition } from '../api/types';
import { normalizeDefinition } from '../lib/definition';

/** The same definition as the canvas, as YAML. Edits apply as soon as the text parses. */
export function YamlView({ definition, readOnly, onChange }: { definition: WorkflowDefinition; readOnly: boolean; onChange: (d: WorkflowDefinition) => void }) {
  const emitted = useRef<WorkflowDefinition | null>(null);
  const [text, setText] = useState(() => YAML.stringify(definition));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // Only re-render the text when the change came from elsewhere (canvas, undo), not from typing.
    if (definition !== emitted.current) {
      setText(YAML.stringify(definition));
      setError(null);
    }
  }, [definition]);
  return (
    <div className="yaml-view">
      <label htmlFor="yaml-editor" className="sr-only">Workflow YAML</label>
      <textarea
        id="yaml-editor"
        className="mono"
        spellCheck={false}
        value={text}
        readOnly={readOnly}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const parsed: unknown = YAML.parse(e.target.value);
            if (!parsed || typeof parsed !== 'object') throw new Error('The document must be a mapping');
            const def = normalizeDefinition(parsed);
            emitted.current = def;
            setError(null);
            onChange(def);
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      />
      <div className={`yaml-status${error ? ' bad' : ''}`} role="status">{error ? `YAML: ${error}` : 'YAML in sync with the canvas'}</div>
    </div>
  );
}
