// The run parameters' JSON Schema as a list of fields (name, type, default, enum, required,
// description) and back. The field editor is offered only when that round trip is lossless: a schema
// with anything else (a pattern, a nested object, a list, `$defs`, …) is edited as raw JSON, and
// `unsupportedKeys` names what the fields cannot hold. Kept free of React so it is unit-tested.
import type { JSONSchema7 } from '../api/types';
import { canonical } from './versionDiff';

export const PARAM_TYPES = ['string', 'integer', 'number', 'boolean'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamField {
  name: string;
  type: ParamType;
  required: boolean;
  description?: string;
  title?: string;
  /** Absent: no default. */
  default?: string | number | boolean;
  /** Absent: any value of the type. */
  enum?: (string | number | boolean)[];
}

const TOP_KEYS = new Set(['type', 'properties', 'required']);
const PROP_KEYS = new Set(['type', 'title', 'description', 'default', 'enum']);
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

function fitsType(v: unknown, t: ParamType): boolean {
  if (t === 'string') return typeof v === 'string';
  if (t === 'boolean') return typeof v === 'boolean';
  if (t === 'integer') return typeof v === 'number' && Number.isInteger(v);
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * JSON pointers (into the schema) of what the field editor cannot hold; empty when the schema is a
 * flat object of string/integer/number/boolean properties with only the keys above.
 */
export function unsupportedKeys(schema: unknown): string[] {
  if (schema === undefined) return [];
  if (!isObj(schema)) return [''];
  const out: string[] = [];
  for (const k of Object.keys(schema)) if (!TOP_KEYS.has(k)) out.push(`/${esc(k)}`);
  if (schema.type !== undefined && schema.type !== 'object') out.push('/type');
  const props = schema.properties ?? {};
  if (!isObj(props)) out.push('/properties');
  else {
    for (const [name, p] of Object.entries(props)) {
      const at = `/properties/${esc(name)}`;
      if (!NAME.test(name)) { out.push(at); continue; }
      if (!isObj(p)) { out.push(at); continue; }
      for (const k of Object.keys(p)) if (!PROP_KEYS.has(k)) out.push(`${at}/${esc(k)}`);
      const t = p.type;
      if (!(PARAM_TYPES as readonly unknown[]).includes(t)) { out.push(`${at}/type`); continue; }
      if (p.title !== undefined && typeof p.title !== 'string') out.push(`${at}/title`);
      if (p.description !== undefined && typeof p.description !== 'string') out.push(`${at}/description`);
      if (p.default !== undefined && !fitsType(p.default, t as ParamType)) out.push(`${at}/default`);
      if (p.enum !== undefined) {
        // A choice is typed as "a, b, c": a string holding a comma could not be typed back.
        if (!Array.isArray(p.enum) || p.enum.length === 0 || p.enum.some((v) => !fitsType(v, t as ParamType) || (typeof v === 'string' && (v.includes(',') || v.trim() !== v || v === ''))))
          out.push(`${at}/enum`);
      }
    }
  }
  const req = schema.required;
  if (req !== undefined && (!Array.isArray(req) || req.some((r) => typeof r !== 'string' || !isObj(props) || !(r in props)))) out.push('/required');
  return out;
}

/** The fields of a schema `unsupportedKeys` accepts (properties in their order). */
export function fieldsOf(schema: JSONSchema7 | undefined): ParamField[] {
  const s = (schema ?? {}) as Obj;
  const props = (isObj(s.properties) ? s.properties : {}) as Record<string, Obj>;
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  return Object.entries(props).map(([name, p]) => ({
    name,
    type: p.type as ParamType,
    required: required.has(name),
    ...(p.title !== undefined ? { title: p.title as string } : {}),
    ...(p.description !== undefined ? { description: p.description as string } : {}),
    ...(p.default !== undefined ? { default: p.default as ParamField['default'] } : {}),
    ...(p.enum !== undefined ? { enum: p.enum as ParamField['enum'] } : {}),
  }));
}

/** The schema of a list of fields: `{type: object, properties, required}` (`required` only when some are). */
export function schemaOf(fields: ParamField[]): JSONSchema7 {
  const properties: Obj = {};
  for (const f of fields) {
    properties[f.name] = {
      type: f.type,
      ...(f.title !== undefined ? { title: f.title } : {}),
      ...(f.description !== undefined ? { description: f.description } : {}),
      ...(f.enum !== undefined ? { enum: f.enum } : {}),
      ...(f.default !== undefined ? { default: f.default } : {}),
    };
  }
  const required = fields.filter((f) => f.required).map((f) => f.name);
  return { type: 'object', properties, ...(required.length ? { required } : {}) } as JSONSchema7;
}

/** The same schema for the engine: `required` as a set, an empty `required` or a missing `type`/`properties` as absent. */
function sameSchema(a: unknown, b: unknown): boolean {
  const norm = (s: unknown) => {
    if (!isObj(s)) return s;
    const { required, ...rest } = s;
    const r = Array.isArray(required) && required.length ? [...(required as string[])].sort() : undefined;
    return { type: 'object', properties: {}, ...rest, ...(r ? { required: r } : {}) };
  };
  return canonical(norm(a)) === canonical(norm(b));
}

/**
 * Whether the field editor can show this schema without losing anything: the pointers it cannot
 * hold (empty: it can). A schema that passes the key check yet would not come back the same (it
 * should not happen) is reported at the root.
 */
export function fieldEditorRefusal(schema: JSONSchema7 | undefined): string[] {
  const bad = unsupportedKeys(schema);
  if (bad.length) return bad;
  // The path the editor takes: schema → fields → typed rows → fields → schema.
  const back = readRows(rowsOf(fieldsOf(schema)));
  return 'fields' in back && sameSchema(schemaOf(back.fields), schema ?? {}) ? [] : [''];
}

/** A value typed in a field (a default or one choice) as the type's JSON value, or an error in words. */
export function parseValue(text: string, type: ParamType): { value: string | number | boolean } | { error: string } {
  const t = text.trim();
  if (type === 'string') return { value: text };
  if (type === 'boolean') {
    if (t === 'true' || t === 'false') return { value: t === 'true' };
    return { error: 'must be true or false' };
  }
  const n = Number(t);
  if (t === '' || !Number.isFinite(n)) return { error: `must be ${type === 'integer' ? 'a whole number' : 'a number'}` };
  if (type === 'integer' && !Number.isInteger(n)) return { error: 'must be a whole number' };
  return { value: n };
}

/** A value as the field editor shows it. */
export function showParamValue(v: string | number | boolean | undefined): string {
  return v === undefined ? '' : String(v);
}

/** The rows as typed (text), what the editor holds between commits. */
export interface ParamRow {
  name: string;
  type: ParamType;
  required: boolean;
  description: string;
  /** Kept as it was: the field editor shows no title input, a title set in JSON stays. */
  title?: string;
  defaultText: string;
  /** Choices typed as `a, b, c`; empty: any value. */
  enumText: string;
}

export function rowsOf(fields: ParamField[]): ParamRow[] {
  return fields.map((f) => ({
    name: f.name, type: f.type, required: f.required, description: f.description ?? '', title: f.title,
    defaultText: showParamValue(f.default), enumText: (f.enum ?? []).map(String).join(', '),
  }));
}

export type RowErrors = Partial<Record<'name' | 'default' | 'enum', string>>;

/** The fields of typed rows, or each row's errors (by row index) when some cannot be read. */
export function readRows(rows: ParamRow[]): { fields: ParamField[] } | { errors: Map<number, RowErrors> } {
  const errors = new Map<number, RowErrors>();
  const fields: ParamField[] = [];
  const seen = new Map<string, number>();
  rows.forEach((r, i) => {
    const e: RowErrors = {};
    const name = r.name.trim();
    if (!name) e.name = 'a parameter needs a name';
    else if (!NAME.test(name)) e.name = 'a name starts with a letter or _ and holds letters, digits, _ and -';
    else if (seen.has(name)) e.name = `${name} is already parameter ${seen.get(name)! + 1}`;
    else seen.set(name, i);
    let choices: ParamField['enum'];
    if (r.enumText.trim()) {
      choices = [];
      for (const part of r.enumText.split(',').map((x) => x.trim())) {
        if (!part) { e.enum = 'an empty choice (two commas in a row?)'; break; }
        const v = parseValue(part, r.type);
        if ('error' in v) { e.enum = `choice ${JSON.stringify(part)} ${v.error}`; break; }
        choices.push(v.value);
      }
    }
    let dflt: ParamField['default'];
    // An empty default is no default, except for a string with choices, where "" cannot be one anyway.
    if (r.defaultText !== '' && !(r.type !== 'string' && r.defaultText.trim() === '')) {
      const v = parseValue(r.defaultText, r.type);
      if ('error' in v) e.default = `the default ${v.error}`;
      else if (choices && !choices.includes(v.value)) e.default = `the default must be one of the choices (${choices.join(', ')})`;
      else dflt = v.value;
    }
    if (Object.keys(e).length) { errors.set(i, e); return; }
    fields.push({
      name, type: r.type, required: r.required,
      ...(r.title !== undefined ? { title: r.title } : {}),
      ...(r.description !== '' ? { description: r.description } : {}),
      ...(dflt !== undefined ? { default: dflt } : {}),
      ...(choices ? { enum: choices } : {}),
    });
  });
  return errors.size ? { errors } : { fields };
}

/** Whether two schemas mean the same to the engine (see `sameSchema`). */
export function sameParameters(a: JSONSchema7 | undefined, b: JSONSchema7 | undefined): boolean {
  return sameSchema(a ?? {}, b ?? {});
}
