// rjsf wrapper used for a step's `with` and for run parameters. References (`${{ }}`) pass
// validation on any field; server-side issues come in as extraErrors on the field they point at.
import { isValidElement, useMemo, useRef } from 'react';
import Form from '@rjsf/core';
import validator from '@rjsf/validator-ajv8';
import type { FieldProps, MultiSchemaFieldTemplateProps, RJSFSchema, RJSFValidationError, WidgetProps, ErrorSchema } from '@rjsf/utils';
import type { JSONSchema7 } from '../api/types';
import { dropExpressionErrors, expressionUiSchema } from '../lib/expression';

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

function SuggestWidget(props: WidgetProps) {
  const { id, value, onChange, options, disabled, readonly, onBlur, onFocus } = props;
  const listId = `${id}-options`;
  return (
    <>
      <input id={id} className="form-control" list={listId} value={value ?? ''} disabled={disabled || readonly}
        placeholder="value or ${{ reference }}"
        onChange={(e) => onChange(e.target.value === '' ? undefined : e.target.value)}
        onBlur={(e) => onBlur(id, e.target.value)} onFocus={(e) => onFocus(id, e.target.value)} />
      <datalist id={listId}>
        {(options.enumOptions ?? []).map((o) => <option key={String(o.value)} value={String(o.value)}>{o.label}</option>)}
      </datalist>
    </>
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

const fields = { expression: ExpressionField };
const templates = { MultiSchemaFieldTemplate: MultiSchemaTemplate };
const widgets = { suggest: SuggestWidget };

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
}

export function SchemaForm(p: SchemaFormProps) {
  const dataRef = useRef(p.formData);
  dataRef.current = p.formData;
  const uiSchema = useMemo(() => ({
    ...(p.allowExpressions ? expressionUiSchema(p.schema, p.formData) : {}),
    'ui:submitButtonOptions': p.onSubmit ? { submitText: p.submitLabel ?? 'Submit' } : { norender: true },
  }), [p.schema, p.formData, p.allowExpressions, p.onSubmit, p.submitLabel]);
  const transformErrors = (errors: RJSFValidationError[]) =>
    p.allowExpressions ? dropExpressionErrors(errors, dataRef.current) : errors;
  return (
    <Form
      ref={p.formRef}
      className="schema-form"
      schema={p.schema as RJSFSchema}
      uiSchema={uiSchema}
      formData={p.formData}
      validator={validator}
      fields={fields}
      widgets={widgets}
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
