import { useEffect, useState } from 'react';
import type { StepDefinition, StepType } from '../api/types';
import { editUndo, pickUndo, undoChoices } from '../lib/compensate';
import { sameValue } from '../lib/formSchema';
import { toErrorSchema, type StepIssue } from '../lib/pointer';
import { SchemaForm } from './SchemaForm';

interface Props {
  step: StepDefinition;
  stepTypes: StepType[];
  issues: StepIssue[];
  readOnly: boolean;
  onChange: (patch: Partial<StepDefinition>) => void;
}

/** `compensate`: the step type that undoes this step when a later one fails, its config from that
 *  type's schema, its timeout and attempts. Each edit is a patch of the step's YAML. */
export function CompensateSection({ step, stepTypes, issues, readOnly, onChange }: Props) {
  const undo = step.compensate;
  const choices = undoChoices(stepTypes, step);
  const type = undo ? stepTypes.find((t) => t.type === undo.uses) : undefined;
  const schema = type?.config_schema;
  const hasConfig = !!schema && Object.keys(schema.properties ?? {}).length > 0;
  const ofUndo = issues.filter((i) => i.section === 'compensate');
  const withMessages = ofUndo.filter((i) => i.path[0] === 'with').map((i) => i.message);
  const otherMessages = ofUndo.filter((i) => i.path[0] !== 'with').map((i) => i.message);
  const [timeout, setTimeoutText] = useState(undo?.timeout ?? '');
  useEffect(() => setTimeoutText(undo?.timeout ?? ''), [undo?.timeout]);
  const perItem = step.for_each !== undefined && step.for_each !== null;
  return (
    <section className="panel-section" aria-labelledby="undo-title" data-testid="compensate-section">
      <h3 id="undo-title">Compensation <span className="muted small-text">(undo when a later step fails)</span></h3>
      <label htmlFor="undo-uses">Undo with</label>
      <select id="undo-uses" value={undo?.uses ?? ''} disabled={readOnly}
        onChange={(e) => onChange(pickUndo(step, e.target.value, stepTypes.find((t) => t.type === e.target.value)))}>
        <option value="">nothing: this step is not undone</option>
        {undo && !choices.some((t) => t.type === undo.uses) && <option value={undo.uses}>{undo.uses}</option>}
        {choices.map((t) => <option key={t.type} value={t.type}>{t.title} · {t.type}</option>)}
      </select>
      {undo && (
        <>
          <p className="field-description">
            Runs in the unwind of a failed run, newest step first. Its fields may use <code>{`\${{ steps.${step.id}.outputs.… }}`}</code>
            {perItem ? <>: once per succeeded item, with <code>{'${{ item }}'}</code>, <code>{'${{ item_index }}'}</code> and that item&apos;s outputs.</> : '.'}
          </p>
          {hasConfig ? (
            <SchemaForm
              key={`${step.id}:${undo.uses}`}
              idPrefix={`undo-${step.id}`}
              schema={{ ...schema!, title: undefined }}
              formData={undo.with ?? {}}
              allowExpressions
              readOnly={readOnly}
              extraErrors={toErrorSchema(issues, 'compensate', ['with']) as never}
              onChange={(data) => {
                const cleaned = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
                if (!sameValue(cleaned, undo.with ?? {})) onChange(editUndo(step, { with: cleaned }));
              }}
            />
          ) : (
            <p className="muted">{type ? 'This step type takes no configuration.' : 'Unknown step type: edit `compensate.with` in the YAML view.'}</p>
          )}
          {!hasConfig && <FieldList messages={withMessages} />}
          <div className="row gap">
            <div className="grow">
              <label htmlFor="undo-timeout">Undo time limit</label>
              <input id="undo-timeout" value={timeout} placeholder="30s" disabled={readOnly} onChange={(e) => setTimeoutText(e.target.value)}
                onBlur={() => timeout !== (undo.timeout ?? '') && onChange(editUndo(step, { timeout }))} />
            </div>
            <div className="grow">
              <label htmlFor="undo-attempts">Undo attempts</label>
              <input id="undo-attempts" type="number" min={1} max={100} value={undo.retry?.max_attempts ?? ''} disabled={readOnly}
                onChange={(e) => onChange(editUndo(step, { retry: { max_attempts: e.target.value === '' ? undefined : Number(e.target.value) } }))} />
            </div>
          </div>
        </>
      )}
      <FieldList messages={otherMessages} />
    </section>
  );
}

function FieldList({ messages }: { messages: string[] }) {
  if (!messages.length) return null;
  return <ul className="field-errors">{messages.map((m, i) => <li key={i}>{m}</li>)}</ul>;
}
