// rjsf wrapper used for a step's `with` and for run parameters. References (`${{ }}`) pass
// validation on any field; server-side issues come in as extraErrors on the field they point at.
import { isValidElement, useEffect, useId, useMemo, useRef, useState } from 'react';
import YAML from 'yaml';
import Form from '@rjsf/core';
import validator from '@rjsf/validator-ajv8';
import type { FieldProps, MultiSchemaFieldTemplateProps, RJSFSchema, RJSFValidationError, WidgetProps, ErrorSchema } from '@rjsf/utils';
import type { JSONSchema7 } from '../api/types';
import { dropExpressionErrors, expressionUiSchema } from '../lib/expression';
import { defaultHints, humaniseErrors, mergeUiSchemas, normaliseSchema } from '../lib/formSchema';
import { insertFunction, type ExpressionFunction } from '../lib/functions';
import { FunctionMenu } from './ExpressionInput';

function ExpressionField(props: FieldProps) {
  const { fieldPathId, formData, onChange, schema, name, disabled, readonly } = props;
  const id = fieldPathId.$id;
  return (
    <div className="form-group expression-field">
      <label htmlFor={id}>{schema.title ?? name} <span className="muted">(reference)</span></label>
      <div className="row">
        <input id={id} className="mono" value={String(formData ?? '')} disabled={disabled || readonly}
          onChange={(e) => onChange(e.target.value, fieldPathId.path)} />
        <button type="button" className="btn small" onClick={() => onChange(undefined, fieldPathId.path)}
          aria-label={`Clear reference of ${name}`}>clear</button>
      </div>
      {schema.description && <p className="field-description">{schema.description}</p>}
    </div>
  );
}

/**
 * A free-form object (e.g. an approval gate's `inputs`, a JSON Schema) as YAML or JSON text: parsed
 * on blur; a text that does not parse, or is not a mapping, stays in the box with the reason.
 */
function YamlTextField(props: FieldProps) {
  const { fieldPathId, formData, onChange, schema, name, disabled, readonly, rawErrors } = props;
  const id = fieldPathId.$id;
  const shown = formData === undefined || formData === null ? '' : YAML.stringify(formData);
  const [text, setText] = useState(shown);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setText(shown), [shown]);
  return (
    <div className="form-group yaml-text-field">
      <label htmlFor={id}>{schema.title ?? name} <span className="muted">(YAML or JSON)</span></label>
      <textarea id={id} className="mono" rows={Math.min(14, Math.max(4, text.split('\n').length + 1))} value={text} spellCheck={false}
        disabled={disabled || readonly} aria-invalid={!!error || undefined}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          if (text.trim() === '') {
            setError(null);
            if (formData !== undefined) onChange(undefined, fieldPathId.path);
            return;
          }
          try {
            const parsed: unknown = YAML.parse(text);
            if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a mapping (key: value)');
            setError(null);
            if (JSON.stringify(parsed) !== JSON.stringify(formData)) onChange(parsed, fieldPathId.path);
          } catch (err) {
            setError((err as Error).message.split('\n')[0]);
          }
        }} />
      {schema.description && <p className="field-description">{schema.description}</p>}
      {(error || rawErrors?.length) && <ul className="error-detail">{[...(error ? [error] : []), ...(rawErrors ?? [])].map((m, i) => <li key={i} className="text-danger">{m}</li>)}</ul>}
    </div>
  );
}

function SuggestWidget(props: WidgetProps) {
  const { id, value, onChange, options, disabled, readonly, onBlur, onFocus, placeholder } = props;
  const listId = `${id}-options`;
  return (
    <>
      <input id={id} className="form-control" list={listId} value={value ?? ''} disabled={disabled || readonly}
        placeholder={placeholder || 'value or ${{ reference }}'}
        onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
        onBlur={(e) => onBlur(id, e.target.value)} onFocus={(e) => onFocus(id, e.target.value)} />
      <datalist id={listId}>
        {(options.enumOptions ?? []).map((o) => <option key={String(o.value)} value={String(o.value)}>{o.label}</option>)}
      </datalist>
    </>
  );
}

/**
 * A yes/no field with a default, in a definition's form: "default: yes", yes, no. A checkbox has no
 * third state, so an unset field would look like "no" whatever its default.
 */
function DefaultBooleanWidget(props: WidgetProps) {
  const { id, value, onChange, disabled, readonly, options, onBlur, onFocus } = props;
  const shown = value === true ? 'true' : value === false ? 'false' : '';
  return (
    <select id={id} className="form-control" value={shown} disabled={disabled || readonly}
      onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value === 'true')}
      onBlur={(e) => onBlur(id, e.target.value)} onFocus={(e) => onFocus(id, e.target.value)}>
      <option value="">{String(options.placeholder ?? 'default')}</option>
      <option value="true">yes</option>
      <option value="false">no</option>
    </select>
  );
}

/** A step config's text field: any value may be a `${{ }}` expression, so the function list is at hand. */
function ExpressionTextWidget(props: WidgetProps) {
  const { id, value, onChange, disabled, readonly, onBlur, onFocus, placeholder, label, options } = props;
  const [open, setOpen] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const cursor = useRef<number | null>(null);
  const listId = useId();
  const text = value === undefined || value === null ? '' : String(value);
  const pick = (fn: ExpressionFunction) => {
    const next = insertFunction(text, cursor.current ?? text.length, fn);
    onChange(next.text);
    setOpen(false);
    requestAnimationFrame(() => {
      input.current?.focus();
      input.current?.setSelectionRange(next.cursor, next.cursor);
    });
  };
  const type = typeof options.inputType === 'string' ? options.inputType : 'text';
  return (
    <div className="expr-row">
      <input id={id} ref={input} className="form-control" type={type} value={text} disabled={disabled || readonly} placeholder={placeholder}
        onChange={(e) => onChange(e.target.value === '' ? options.emptyValue : e.target.value)}
        onSelect={(e) => { cursor.current = e.currentTarget.selectionStart; }}
        onBlur={(e) => onBlur(id, e.target.value)} onFocus={(e) => onFocus(id, e.target.value)} />
      {!readonly && <FunctionMenu forId={id} kind="value" label={label || id} disabled={disabled} open={open} setOpen={setOpen} listId={listId} onPick={pick} />}
    </div>
  );
}

/**
 * rjsf's anyOf/oneOf chooser is a bare <select> with no label: give it one (visually hidden, so the
 * layout is rjsf's own) naming the field it switches, e.g. "Kind of allowed".
 */
function MultiSchemaTemplate({ selector, optionSchemaField, schema }: MultiSchemaFieldTemplateProps) {
  const sel = isValidElement<{ id?: string; label?: string }>(selector) ? selector.props : {};
  return (
    <div className="panel panel-default panel-body">
      <div className="form-group">
        {sel.id && <label htmlFor={sel.id} className="sr-only">Kind of {sel.label ?? schema.title ?? 'value'}</label>}
        {selector}
      </div>
      {optionSchemaField}
    </div>
  );
}

const fields = { expression: ExpressionField, yamlText: YamlTextField };
const templates = { MultiSchemaFieldTemplate: MultiSchemaTemplate };
const widgets = { suggest: SuggestWidget, defaultBoolean: DefaultBooleanWidget };
const expressionWidgets = { ...widgets, TextWidget: ExpressionTextWidget };

export interface SchemaFormProps {
  schema: JSONSchema7;
  formData: unknown;
  onChange?: (data: Record<string, unknown>) => void;
  extraErrors?: ErrorSchema;
  readOnly?: boolean;
  idPrefix: string;
  allowExpressions?: boolean;
  onSubmit?: (data: Record<string, unknown>) => void;
  submitLabel?: string;
  formRef?: React.Ref<Form>;
  /**
   * Start from the schema's defaults (the run form, a gate's inputs): on by default for a form that
   * submits. A definition's form (a step's `with`) never fills them in: looking at a step must not
   * change it, so a default is a placeholder until the user sets the field.
   */
  fillDefaults?: boolean;
}

/** Defaults rjsf must not invent for a definition's form: no empty objects, no minItems rows, no `false`. */
const NO_INVENTED_DEFAULTS = {
  emptyObjectFields: 'skipEmptyDefaults',
  arrayMinItems: { populate: 'never' },
  requiredBooleanDefault: 'skip',
} as const;

export function SchemaForm(p: SchemaFormProps) {
  const dataRef = useRef(p.formData);
  dataRef.current = p.formData;
  const fill = p.fillDefaults ?? !!p.onSubmit;
  const schema = useMemo(() => normaliseSchema(p.schema, { keepDefaults: fill }), [p.schema, fill]);
  const hints = useMemo(() => (fill ? {} : defaultHints(p.schema)), [p.schema, fill]);
  const uiSchema = useMemo(() => ({
    ...mergeUiSchemas(p.allowExpressions ? expressionUiSchema(schema, p.formData) : {}, hints),
    'ui:submitButtonOptions': p.onSubmit ? { submitText: p.submitLabel ?? 'Submit' } : { norender: true },
  }), [schema, hints, p.formData, p.allowExpressions, p.onSubmit, p.submitLabel]);
  const transformErrors = (errors: RJSFValidationError[]) =>
    humaniseErrors(p.allowExpressions ? dropExpressionErrors(errors, dataRef.current) : errors, schema);
  return (
    <Form
      ref={p.formRef}
      className="schema-form"
      schema={schema as RJSFSchema}
      experimental_defaultFormStateBehavior={fill ? undefined : NO_INVENTED_DEFAULTS}
      uiSchema={uiSchema}
      formData={p.formData}
      validator={validator}
      fields={fields}
      widgets={p.allowExpressions ? expressionWidgets : widgets}
      templates={templates}
      idPrefix={p.idPrefix}
      extraErrors={p.extraErrors}
      transformErrors={transformErrors}
      showErrorList={false}
      liveValidate={p.onSubmit ? undefined : 'onChange'}
      readonly={p.readOnly}
      noHtml5Validate
      onChange={(e) => p.onChange?.((e.formData ?? {}) as Record<string, unknown>)}
      onSubmit={(e) => p.onSubmit?.((e.formData ?? {}) as Record<string, unknown>)}
    />
  );
}
