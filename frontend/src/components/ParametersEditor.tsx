import { useEffect, useMemo, useState } from 'react';
import type { JSONSchema7 } from '../api/types';
import {
  fieldEditorRefusal, fieldsOf, PARAM_TYPES, readRows, rowsOf, sameParameters, schemaOf, type ParamRow, type ParamType, type RowErrors,
} from '../lib/paramSchema';

const EMPTY: JSONSchema7 = { type: 'object', properties: {} };

/**
 * The run parameters: one row per field (name, type, required, default, choices, description) that
 * builds the JSON Schema, with the raw JSON as the advanced view. A schema the fields cannot hold
 * without loss opens as raw JSON, with a note naming what they cannot hold.
 */
export function ParametersEditor({ schema, readOnly, onChange }: { schema: JSONSchema7 | undefined; readOnly: boolean; onChange: (s: JSONSchema7) => void }) {
  const refusal = useMemo(() => fieldEditorRefusal(schema), [schema]);
  const [mode, setMode] = useState<'fields' | 'raw'>('fields');
  const shownMode = refusal.length ? 'raw' : mode;
  return (
    <section className="panel-section params-editor" data-testid="params-editor">
      <div className="row gap params-head">
        <h3 className="grow">Run parameters</h3>
        <div className="seg-group" role="group" aria-label="Edit the run parameters as">
          <button className={`btn small seg${shownMode === 'fields' ? ' active' : ''}`} aria-pressed={shownMode === 'fields'}
            disabled={refusal.length > 0} title={refusal.length ? 'This schema uses keys the fields cannot hold' : undefined}
            onClick={() => setMode('fields')}>Fields</button>
          <button className={`btn small seg${shownMode === 'raw' ? ' active' : ''}`} aria-pressed={shownMode === 'raw'} onClick={() => setMode('raw')}>Raw JSON</button>
        </div>
      </div>
      {refusal.length > 0 && (
        <p className="note small-text" role="note" data-testid="params-raw-note">
          This schema uses what the field editor cannot hold ({refusal.map((p, i) => <span key={p}>{i > 0 && ', '}<code>{p || '/'}</code></span>)}),
          so it is edited as raw JSON: nothing is lost.
        </p>
      )}
      {shownMode === 'fields'
        ? <ParamFields schema={schema} readOnly={readOnly} onChange={onChange} />
        : <RawSchema schema={schema} readOnly={readOnly} onChange={onChange} />}
    </section>
  );
}

function RawSchema({ schema, readOnly, onChange }: { schema: JSONSchema7 | undefined; readOnly: boolean; onChange: (s: JSONSchema7) => void }) {
  const paramsText = JSON.stringify(schema ?? EMPTY, null, 2);
  const [text, setText] = useState(paramsText);
  const [parseError, setParseError] = useState<string | null>(null);
  useEffect(() => setText(paramsText), [paramsText]);
  return (
    <>
      <label htmlFor="wf-params" className="sr-only">Parameters JSON Schema</label>
      <textarea id="wf-params" className="mono" rows={14} value={text} disabled={readOnly} spellCheck={false}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          try {
            const parsed = JSON.parse(text) as JSONSchema7;
            setParseError(null);
            if (JSON.stringify(parsed) !== JSON.stringify(schema)) onChange(parsed);
          } catch (err) {
            setParseError((err as Error).message);
          }
        }} />
      {parseError && <ul className="field-errors"><li>{parseError}</li></ul>}
    </>
  );
}

const blank = (): ParamRow => ({ name: '', type: 'string', required: false, description: '', defaultText: '', enumText: '' });

function ParamFields({ schema, readOnly, onChange }: { schema: JSONSchema7 | undefined; readOnly: boolean; onChange: (s: JSONSchema7) => void }) {
  const fromSchema = useMemo(() => rowsOf(fieldsOf(schema)), [schema]);
  const [rows, setRows] = useState<ParamRow[]>(fromSchema);
  const [errors, setErrors] = useState<Map<number, RowErrors>>(new Map());
  // A change from elsewhere (YAML, undo) replaces the rows, unless they already say the same.
  useEffect(() => {
    setRows((cur) => {
      const read = readRows(withoutBlank(cur));
      return 'fields' in read && sameParameters(schemaOf(read.fields), schema) ? cur : fromSchema;
    });
  }, [fromSchema, schema]);

  /** Reads the rows; when every one is readable, the schema is committed (if it changed). */
  const commit = (next: ParamRow[]) => {
    setRows(next);
    const read = readRows(withoutBlank(next));
    if ('errors' in read) { setErrors(read.errors); return; }
    setErrors(new Map());
    const s = schemaOf(read.fields);
    if (!sameParameters(s, schema)) onChange(s);
  };
  const patch = (i: number, p: Partial<ParamRow>, now = true) => {
    const next = rows.map((r, j) => (j === i ? { ...r, ...p } : r));
    if (now) commit(next); else setRows(next);
  };

  return (
    <div className="param-fields">
      {rows.length === 0 && <p className="muted small-text">No parameters: a run starts without a form.</p>}
      {rows.map((r, i) => {
        const e = errors.get(i) ?? {};
        const id = `param-${i}`;
        return (
          <fieldset key={i} className="param-row" data-testid={`param-row-${i}`} disabled={readOnly}>
            <legend className="sr-only">Parameter {i + 1}</legend>
            <div className="param-line">
              <div className="grow">
                <label htmlFor={`${id}-name`}>Name</label>
                <input id={`${id}-name`} aria-label={`Name of parameter ${i + 1}`} className="mono" value={r.name} placeholder="repo" spellCheck={false} aria-invalid={!!e.name || undefined}
                  onChange={(ev) => patch(i, { name: ev.target.value }, false)} onBlur={() => commit(rows)}
                  onKeyDown={(ev) => ev.key === 'Enter' && (ev.currentTarget as HTMLInputElement).blur()} />
              </div>
              <div>
                <label htmlFor={`${id}-type`}>Type</label>
                <select id={`${id}-type`} value={r.type} onChange={(ev) => patch(i, { type: ev.target.value as ParamType })}>
                  {PARAM_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </div>
              <label className="inline param-required">
                <input type="checkbox" checked={r.required} onChange={(ev) => patch(i, { required: ev.target.checked })} /> Required
              </label>
              <button type="button" className="link danger" aria-label={`Remove parameter ${r.name || i + 1}`} title="Remove"
                onClick={() => commit(rows.filter((_, j) => j !== i))}>×</button>
            </div>
            {e.name && <ul className="field-errors"><li>{e.name}</li></ul>}
            <div className="param-line">
              <div className="grow">
                <label htmlFor={`${id}-default`}>Default</label>
                {r.type === 'boolean' ? (
                  <select id={`${id}-default`} value={r.defaultText} onChange={(ev) => patch(i, { defaultText: ev.target.value })}>
                    <option value="">none</option><option value="true">true</option><option value="false">false</option>
                  </select>
                ) : (
                  <input id={`${id}-default`} className="mono" value={r.defaultText} placeholder="none" spellCheck={false} aria-invalid={!!e.default || undefined}
                    onChange={(ev) => patch(i, { defaultText: ev.target.value }, false)} onBlur={() => commit(rows)}
                    onKeyDown={(ev) => ev.key === 'Enter' && (ev.currentTarget as HTMLInputElement).blur()} />
                )}
              </div>
              {r.type !== 'boolean' && (
                <div className="grow">
                  <label htmlFor={`${id}-enum`}>Choices</label>
                  <input id={`${id}-enum`} className="mono" value={r.enumText} placeholder="any (or a, b, c)" spellCheck={false} aria-invalid={!!e.enum || undefined}
                    onChange={(ev) => patch(i, { enumText: ev.target.value }, false)} onBlur={() => commit(rows)}
                    onKeyDown={(ev) => ev.key === 'Enter' && (ev.currentTarget as HTMLInputElement).blur()} />
                </div>
              )}
            </div>
            {(e.default || e.enum) && <ul className="field-errors">{e.default && <li>{e.default}</li>}{e.enum && <li>{e.enum}</li>}</ul>}
            <label htmlFor={`${id}-description`}>Help text</label>
            <input id={`${id}-description`} value={r.description} placeholder="shown under the field in the run form"
              onChange={(ev) => patch(i, { description: ev.target.value }, false)} onBlur={() => commit(rows)}
              onKeyDown={(ev) => ev.key === 'Enter' && (ev.currentTarget as HTMLInputElement).blur()} />
          </fieldset>
        );
      })}
      {!readOnly && <button type="button" className="btn small" onClick={() => setRows([...rows, blank()])}>+ Add parameter</button>}
    </div>
  );
}

/** A row just added and not typed in yet is not a parameter (nor an error). */
function withoutBlank(rows: ParamRow[]): ParamRow[] {
  return rows.filter((r) => r.name.trim() || r.defaultText || r.enumText || r.description || r.required);
}
