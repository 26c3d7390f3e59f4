// `${{ ... }}` references may stand in for a value of any type in a step's config. The form keeps
// the step type's schema for rendering and drops validation errors on fields holding a reference.
import type { JSONSchema7 } from '../api/types';

export function isExpression(v: unknown): v is string {
  return typeof v === 'string' && v.includes('${{');
}

/** rjsf error `property` (".a.b", ".list.0", "['odd-key']") → path segments. */
export function propertyPath(property: string | undefined): string[] {
  if (!property) return [];
  const out: string[] = [];
  const re = /\.([^.[\]]+)|\[['"]?([^'"\]]+)['"]?\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(property))) out.push(m[1] ?? m[2]);
  return out;
}

export function valueAt(data: unknown, path: string[]): unknown {
  let cur = data;
  for (const key of path) {
    if (cur == null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

interface FieldError {
  property?: string;
  name?: string;
}

/** Drops errors whose value (or any enclosing value) is a `${{ }}` reference. */
export function dropExpressionErrors<E extends FieldError>(errors: E[], formData: unknown): E[] {
  return errors.filter((e) => {
    const path = propertyPath(e.property);
    if (e.name === 'required') return true;
    for (let i = path.length; i >= 1; i--) if (isExpression(valueAt(formData, path.slice(0, i)))) return false;
    return true;
  });
}

type UiSchema = Record<string, unknown>;

function schemaType(s: JSONSchema7): string | undefined {
  return Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
}

/**
 * An object field with no declared properties (a free-form mapping such as an approval's `inputs`,
 * itself a JSON Schema), possibly optional (`anyOf: [{type: object}, {type: null}]`): rjsf's
 * key/value editor cannot nest, so such a field is edited as YAML/JSON text.
 */
export function isFreeFormObject(s: JSONSchema7): boolean {
  const branches = s.anyOf ?? s.oneOf;
  if (branches) {
    const real = branches.filter((b): b is JSONSchema7 => typeof b === 'object' && schemaType(b) !== 'null' && b.type !== 'null');
    return real.length === 1 && isFreeFormObject(real[0]);
  }
  return schemaType(s) === 'object' && !s.properties && !s.$ref;
}

/**
 * uiSchema that lets each field accept a reference: numbers become text inputs (rjsf keeps a typed
 * number when the text parses), enums become a text input with suggestions, and a field that
 * already holds a reference is shown as the reference text whatever its type.
 */
export function expressionUiSchema(schema: JSONSchema7, formData: unknown): UiSchema {
  const ui: UiSchema = {};
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    const value = valueAt(formData, [key]);
    const t = schemaType(prop);
    if (isExpression(value) && t !== 'string') ui[key] = { 'ui:field': 'expression' };
    else if (isFreeFormObject(prop)) ui[key] = { 'ui:field': 'yamlText' };
    else if (prop.enum) ui[key] = { 'ui:widget': 'suggest' };
    else if (t === 'number' || t === 'integer') ui[key] = { 'ui:options': { inputType: 'text' } };
    else if (t === 'object' && prop.properties) ui[key] = expressionUiSchema(prop, value);
  }
  return ui;
}
