// What the form library sees of a plugin's or a workflow's JSON Schema. Pydantic writes an optional
// field (`x: str | None = None`) as `anyOf: [{type: string}, {type: null}]` with `default: null`,
// which rjsf draws as an "option 1 / option 2" chooser plus a second copy of the field; a field that
// is simply left out of `required` says the same thing, so the null branch is dropped here. A step's
// form also loses its `default`s: rjsf writes every default into the data it reports, and a step
// that was only looked at must not change. The defaults are shown as placeholders instead.
import type { JSONSchema7 } from '../api/types';

type Schema = JSONSchema7;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `{type: 'null'}` (or `{const: null}` / `{enum: [null]}`): the "nothing" branch of an optional field. */
export function isNullSchema(s: unknown): boolean {
  if (!isObject(s)) return false;
  if (s.type === 'null') return true;
  if (Array.isArray(s.type) && s.type.length === 1 && s.type[0] === 'null') return true;
  if ('const' in s && s.const === null) return true;
  return Array.isArray(s.enum) && s.enum.length === 1 && s.enum[0] === null;
}

export interface NormaliseOptions {
  /** Keep `default`s (the run form starts from the parameters' defaults); a step's form drops them. */
  keepDefaults?: boolean;
}

const SUBSCHEMA_MAPS = ['properties', '$defs', 'definitions', 'patternProperties'] as const;
const SUBSCHEMA_LISTS = ['allOf', 'prefixItems'] as const;

/**
 * The schema with every optional (nullable) field as one plain field: a two-branch
 * `anyOf`/`oneOf` with a null branch becomes the other branch (the outer title, description and
 * non-null default win), a longer one just loses its null branch, `type: [X, 'null']` becomes X,
 * `null` leaves an `enum`, and `default: null` goes. Nothing else changes.
 */
export function normaliseSchema(schema: Schema, opts: NormaliseOptions = {}): Schema {
  return walk(schema, opts);
}

function walk(input: Schema, opts: NormaliseOptions): Schema {
  if (!isObject(input)) return input;
  let s: Schema = { ...input };
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = s[key];
    if (!Array.isArray(branches) || !branches.some(isNullSchema)) continue;
    const real = branches.filter((b) => !isNullSchema(b));
    const { [key]: _dropped, ...outer } = s;
    if (real.length === 1) {
      const inner = walk(real[0], opts);
      // The outer keywords describe the field (title, description, default): they win.
      s = { ...inner, ...outer };
    } else {
      s = { ...outer, [key]: real };
    }
  }
  if (Array.isArray(s.type)) {
    const types = s.type.filter((t) => t !== 'null');
    s.type = types.length === 1 ? types[0] : types;
  }
  if (Array.isArray(s.enum) && s.enum.includes(null)) s.enum = s.enum.filter((v) => v !== null);
  if (s.default === null || (!opts.keepDefaults && 'default' in s)) delete s.default;
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = s[key];
    if (Array.isArray(branches)) s[key] = branches.map((b) => walk(b as Schema, opts));
  }
  for (const key of SUBSCHEMA_MAPS) {
    const map = s[key];
    if (isObject(map)) s[key] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, walk(v as Schema, opts)]));
  }
  for (const key of SUBSCHEMA_LISTS) {
    const list = s[key];
    if (Array.isArray(list)) s[key] = list.map((v) => walk(v as Schema, opts));
  }
  if (Array.isArray(s.items)) s.items = s.items.map((v) => walk(v, opts));
  else if (isObject(s.items)) s.items = walk(s.items, opts);
  if (isObject(s.additionalProperties)) s.additionalProperties = walk(s.additionalProperties, opts);
  return s;
}

type UiSchema = Record<string, unknown>;

function defaultText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return JSON.stringify(v);
}

/**
 * Placeholders naming each field's default ("default: rc"), from the schema before its defaults
 * were dropped, so the form shows what an empty field means. A boolean with a default becomes a
 * select (default / yes / no): an unticked checkbox would claim "no" for a field that defaults to yes.
 */
export function defaultHints(schema: Schema): UiSchema {
  const ui: UiSchema = {};
  const normal = normaliseSchema(schema, { keepDefaults: true });
  for (const [key, prop] of Object.entries(normal.properties ?? {})) {
    if (!isObject(prop)) continue;
    if (prop.default !== undefined && prop.default !== null) {
      const placeholder = `default: ${defaultText(prop.default)}`;
      ui[key] = prop.type === 'boolean'
        ? { 'ui:widget': 'defaultBoolean', 'ui:placeholder': placeholder }
        : { 'ui:placeholder': placeholder };
    } else if (prop.type === 'object' && prop.properties) {
      const inner = defaultHints(prop);
      if (Object.keys(inner).length) ui[key] = inner;
    }
  }
  return ui;
}

/** Two uiSchemas in one, the second's keys added into the first's per field. */
export function mergeUiSchemas(a: UiSchema, b: UiSchema): UiSchema {
  const out: UiSchema = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = isObject(cur) && isObject(v) && !k.startsWith('ui:') ? mergeUiSchemas(cur, v) : (cur === undefined ? v : cur);
  }
  return out;
}

/** Equal as JSON values, whatever the order of the keys (rjsf reorders a mapping to the schema's order). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameValue(a[k], b[k]));
}

interface FormError {
  name?: string;
  property?: string;
  message?: string;
  params?: Record<string, unknown>;
  stack?: string;
  schemaPath?: string;
}

/** The schema of the field an rjsf error `property` (".a.b") points at, for its title. */
function fieldSchema(root: Schema, path: string[]): Schema | undefined {
  let cur: Schema | undefined = root;
  for (const key of path) {
    if (!cur) return undefined;
    if (/^\d+$/.test(key) && isObject(cur.items)) cur = cur.items;
    else cur = cur.properties?.[key];
  }
  return cur;
}

function segments(property: string | undefined): string[] {
  if (!property) return [];
  const out: string[] = [];
  const re = /\.([^.[\]]+)|\[['"]?([^'"\]]+)['"]?\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(property))) out.push(m[1] ?? m[2]);
  return out;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text', integer: 'a whole number', number: 'a number', boolean: 'yes or no', array: 'a list', object: 'a mapping',
};

/** The field's name in words: its title, else its key. */
export function fieldLabel(root: Schema, path: string[]): string {
  const s = fieldSchema(root, path);
  return (typeof s?.title === 'string' && s.title) || path[path.length - 1] || 'This field';
}

/**
 * rjsf/ajv messages ("must have required property 'who'") in words naming the field by its title
 * ("Who to greet is required"). Unknown kinds keep ajv's text after the field's name.
 */
export function humaniseErrors<E extends FormError>(errors: E[], schema: Schema): (E & { message: string; stack: string })[] {
  return errors.map((e) => {
    const path = segments(e.property);
    const p = e.params ?? {};
    let label: string;
    let text: string;
    if (e.name === 'required' && typeof p.missingProperty === 'string') {
      // rjsf already appends the missing property to the path; plain ajv points at the parent.
      label = fieldLabel(schema, path[path.length - 1] === p.missingProperty ? path : [...path, p.missingProperty]);
      text = `${label} is required`;
    } else {
      label = fieldLabel(schema, path);
      switch (e.name) {
        case 'type': {
          const t = Array.isArray(p.type) ? p.type[0] : p.type;
          text = `${label} must be ${TYPE_WORDS[String(t)] ?? String(t)}`;
          break;
        }
        case 'enum': text = `${label} must be one of: ${(Array.isArray(p.allowedValues) ? p.allowedValues : []).map(String).join(', ')}`; break;
        case 'minLength': text = p.limit === 1 ? `${label} is required` : `${label} must be at least ${String(p.limit)} characters`; break;
        case 'maxLength': text = `${label} must be at most ${String(p.limit)} characters`; break;
        case 'minimum': text = `${label} must be at least ${String(p.limit)}`; break;
        case 'maximum': text = `${label} must be at most ${String(p.limit)}`; break;
        case 'minItems': text = `${label} needs at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}`; break;
        case 'pattern': text = `${label} must match ${String(p.pattern)}`; break;
        case 'format': text = `${label} must be a valid ${String(p.format)}`; break;
        default: text = `${label} ${e.message ?? 'is not valid'}`;
      }
    }
    return { ...e, message: text, stack: text };
  });
}
