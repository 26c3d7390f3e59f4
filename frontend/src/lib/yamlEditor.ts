// What the YAML editor needs besides CodeMirror: the text of a definition with or without its layout
// (`ui.positions`), a text read back (hidden positions kept), a validation pointer mapped to a range
// of the text, and the keys that may be typed at a place (schema-aware completion). Kept free of
// React and CodeMirror so it is unit-tested.
import YAML, { isMap, isPair, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import type { StepType, WorkflowDefinition } from '../api/types';
import { normalizeDefinition } from './definition';

/** The keys of schemas/workflow.schema.json, with a word each (a unit test keeps them equal to the schema). */
export const TOP_KEYS: Record<string, string> = {
  apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: 'name, type, description, labels', spec: 'parameters, steps, finally, triggers…',
  ui: 'designer layout; ignored by the engine',
};
export const METADATA_KEYS: Record<string, string> = { name: 'the workflow name', type: 'e.g. release', description: 'what it does', labels: 'key: value labels' };
export const SPEC_KEYS: Record<string, string> = {
  parameters: 'JSON Schema of the run parameters', steps: 'the steps', timeout: 'the whole run, e.g. 30m', max_parallel: 'steps running at once',
  concurrency: 'key, limit, on_conflict', outputs: 'values evaluated when the run ends', finally: 'steps run after every other, whatever happened',
  triggers: 'schedules, webhooks, after a run',
};
export const STEP_KEYS: Record<string, string> = {
  id: 'unique within the workflow', uses: 'step type, <plugin>/<name> or workflow/<name>', name: 'a title', description: 'what it does',
  needs: 'steps that run first', with: 'config of the step type', if: 'condition; false skips the step', optional: 'a failure does not fail the run',
  timeout: 'e.g. 10m', for_each: 'one instance per item', max_parallel: 'instances at once', fail_fast: 'the first failed item cancels the rest',
  retry: 'max_attempts, backoff, intervals',
  compensate: 'how to undo this step if the run fails after it: uses, with',
};

/** The definition as the editor shows it: without `ui.positions` unless asked (an emptied `ui` is left out). */
export function yamlTextOf(def: WorkflowDefinition, showLayout: boolean): string {
  if (showLayout || !def.ui) return YAML.stringify(def);
  const { positions: _p, ...ui } = def.ui as Record<string, unknown>;
  const { ui: _u, ...rest } = def;
  return YAML.stringify(Object.keys(ui).length ? { ...rest, ui } : rest);
}

/**
 * The definition a text describes. With the layout hidden, the positions it did not show are kept
 * from `current` (a text that sets `ui.positions` itself wins).
 */
export function definitionOfText(text: string, current: WorkflowDefinition, showLayout: boolean): WorkflowDefinition {
  const parsed: unknown = YAML.parse(text);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ShapeError('The document must be a mapping', '');
  checkShape(parsed as Record<string, unknown>);
  const def = normalizeDefinition(parsed);
  const kept = current.ui?.positions;
  if (showLayout || !kept || (parsed as { ui?: { positions?: unknown } }).ui?.positions !== undefined) return def;
  return { ...def, ui: { ...(def.ui ?? {}), positions: kept } };
}

/** A text that parses but that the canvas cannot draw (yet): said at its place, the canvas keeps the last good one. */
export class ShapeError extends Error {
  constructor(message: string, readonly pointer: string) { super(message); }
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What the canvas needs to draw a text: `spec` a mapping, its step lists lists of mappings with an id and uses (a half-typed step is not a step yet). */
function checkShape(doc: Record<string, unknown>): void {
  if (doc.spec === undefined || doc.spec === null) return;
  if (!isMapping(doc.spec)) throw new ShapeError('spec must be a mapping (parameters, steps, …)', '/spec');
  for (const lane of ['steps', 'finally'] as const) {
    const list = doc.spec[lane];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ShapeError(`spec.${lane} must be a list of steps`, `/spec/${lane}`);
    list.forEach((s, i) => {
      const at = `/spec/${lane}/${i}`;
      if (!isMapping(s)) throw new ShapeError(`step ${i + 1} of spec.${lane} is not a step yet: give it an id and uses`, at);
      if (typeof s.id !== 'string' || !s.id) throw new ShapeError(`step ${i + 1} of spec.${lane} needs an id`, at);
      if (typeof s.uses !== 'string' || !s.uses) throw new ShapeError(`step ${s.id} needs uses: a step type (Ctrl+Space lists them)`, at);
    });
  }
}

function parsePointer(pointer: string): string[] {
  if (!pointer || pointer === '/') return [];
  return pointer.replace(/^#/, '').split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * The range of text a JSON pointer is about: the key and value of the pair it names, or the nearest
 * part of the path that is in the text (a missing `with/name` marks `with`). Null when not even the
 * first part is found.
 */
export function pointerRange(text: string, pointer: string): { from: number; to: number } | null {
  let doc: YAML.Document.Parsed;
  try {
    doc = YAML.parseDocument(text);
  } catch {
    return null;
  }
  let node: unknown = doc.contents;
  let range: { from: number; to: number } | null = null;
  for (const seg of parsePointer(pointer)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      const k = pair.key as YamlNode;
      const v = pair.value as YamlNode | null;
      const end = v?.range ? v.range[1] : k.range![1];
      range = { from: k.range![0], to: end };
      node = v;
    } else if (isSeq(node) && /^\d+$/.test(seg)) {
      const item = node.items[Number(seg)] as YamlNode | undefined;
      if (!item?.range) break;
      range = { from: item.range[0], to: item.range[1] };
      node = item;
    } else break;
  }
  if (range == null && pointer !== '' && pointer !== '/') return null;
  if (range == null) return { from: 0, to: Math.min(text.length, text.indexOf('\n') < 0 ? text.length : text.indexOf('\n')) };
  // A block value runs to the end of its last line: mark the first line only, so the mark stays readable.
  const nl = text.indexOf('\n', range.from);
  const to = nl >= 0 && nl < range.to ? nl : range.to;
  return { from: range.from, to: Math.max(to, range.from + 1) };
}

/** The 1-based line of an offset. */
export function lineOf(text: string, pos: number): number {
  let n = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text[i] === '\n') n++;
  return n;
}

export interface Completion {
  label: string;
  detail?: string;
  /** `key` completes `label: `; `value` the label itself. */
  kind: 'key' | 'value';
}

export interface CompletionContext {
  /** Where the word being completed starts. */
  from: number;
  options: Completion[];
}

interface Line { indent: number; text: string; start: number }

function linesUpTo(text: string, pos: number): Line[] {
  const out: Line[] = [];
  let start = 0;
  for (const raw of text.slice(0, pos).split('\n')) {
    out.push({ indent: raw.length - raw.trimStart().length, text: raw, start });
    start += raw.length + 1;
  }
  return out;
}

/** The key a line opens (`  with:` → with, `- id: a` → id), and whether it starts a list item. */
function keyOf(line: string): { key: string | null; item: boolean; itemIndent: number; value: string } {
  const t = line.trimStart();
  const item = t.startsWith('- ');
  const body = item ? t.slice(2).trimStart() : t;
  const m = /^([A-Za-z_$][\w$.-]*)\s*:(?:\s+(.*))?$/.exec(body);
  const indent = line.length - t.length;
  return { key: m ? m[1] : null, item, itemIndent: item ? indent + (t.length - body.length) : indent, value: m?.[2]?.trim() ?? '' };
}

/**
 * The keys (or the `uses` values) that may be typed at `pos`: the top level, metadata, spec, a step
 * (in `steps` or `finally`), and a step's `with` from its type's config schema. Keys already set
 * in the same mapping are left out. Null where nothing is known.
 */
export function completionsAt(text: string, pos: number, types: StepType[]): CompletionContext | null {
  const lines = linesUpTo(text, pos);
  const cur = lines[lines.length - 1];
  const before = cur.text;
  // A `uses:` value.
  const usesAt = /^(\s*(?:-\s+)?uses:\s*)(\S*)$/.exec(before);
  if (usesAt) {
    return {
      from: cur.start + usesAt[1].length,
      options: types.map((t) => ({ label: t.type, detail: t.title || t.description, kind: 'value' as const })),
    };
  }
  // A key being typed: only spaces, maybe a list dash, then a word.
  const keyAt = /^(\s*(?:-\s+)?)([\w$.-]*)$/.exec(before);
  if (!keyAt) return null;
  const indent = keyAt[1].length;
  const path: string[] = [];
  // Walk up. `col` is the column of the keys of the mapping we are in; `dash` the column of the
  // list's dashes once that mapping turned out to be a list item (then we look for the list's key).
  let col = indent;
  let dash: number | null = null;
  let stepLine: number | null = null;
  const startsItem = keyAt[1].includes('-');
  if (startsItem) { path.unshift('#'); dash = cur.indent; stepLine = lines.length - 1; }
  for (let i = lines.length - 2; i >= 0; i--) {
    const l = lines[i];
    if (!l.text.trim() || l.text.trimStart().startsWith('#')) continue;
    const k = keyOf(l.text);
    if (dash != null) {
      // Looking for the key that holds the list: skip the items' insides and the sibling items.
      if (l.indent > dash || (k.item && l.indent === dash)) continue;
      if (!k.key) return null;
      path.unshift(k.key);
      if (k.item) { path.unshift('#'); dash = l.indent; if (stepLine == null) stepLine = i; continue; }
      col = l.indent; dash = null;
      continue;
    }
    if (k.item && k.itemIndent === col) {
      // The first line of the list item we are in.
      path.unshift('#'); dash = l.indent;
      if (stepLine == null) stepLine = i;
      continue;
    }
    const content = k.item ? k.itemIndent : l.indent;
    if (content < col || (k.item && l.indent < col)) {
      if (!k.key) return null;
      path.unshift(k.key);
      if (k.item) { path.unshift('#'); dash = l.indent; if (stepLine == null) stepLine = i; continue; }
      col = l.indent;
    }
  }
  if (dash != null) return null; // a list at the top level: not a workflow
  const ctx = path.join('/');
  const siblings = siblingKeys(text, lines, indent, startsItem);
  const keys = (table: Record<string, string>) => Object.entries(table).filter(([k]) => !siblings.has(k))
    .map(([label, detail]) => ({ label, detail, kind: 'key' as const }));
  const from = cur.start + keyAt[1].length;
  if (ctx === '') return { from, options: keys(TOP_KEYS) };
  if (ctx === 'metadata') return { from, options: keys(METADATA_KEYS) };
  if (ctx === 'spec') return { from, options: keys(SPEC_KEYS) };
  if (ctx === 'spec/steps/#' || ctx === 'spec/finally/#') return { from, options: keys(STEP_KEYS) };
  if (ctx === 'spec/steps/#/with' || ctx === 'spec/finally/#/with') {
    const uses = usesOfItem(text, lines, stepLine);
    const t = types.find((x) => x.type === uses);
    const props = (t?.config_schema as { properties?: Record<string, { description?: string; title?: string; type?: unknown }> } | undefined)?.properties;
    if (!props) return null;
    const required = new Set(((t?.config_schema as { required?: string[] }).required) ?? []);
    return {
      from,
      options: Object.entries(props).filter(([k]) => !siblings.has(k)).map(([label, p]) => ({
        label, kind: 'key' as const, detail: `${required.has(label) ? 'required · ' : ''}${p.description ?? p.title ?? (typeof p.type === 'string' ? p.type : '')}`,
      })),
    };
  }
  return null;
}

/** The keys already set in the mapping the cursor is in (same indent, same block, above and below). */
function siblingKeys(text: string, upTo: Line[], indent: number, startsItem: boolean): Set<string> {
  const out = new Set<string>();
  if (startsItem) return out;
  const all = text.split('\n');
  const here = upTo.length - 1;
  const scan = (i: number) => {
    const raw = all[i];
    if (raw == null || !raw.trim()) return true;
    const k = keyOf(raw);
    const ind = raw.length - raw.trimStart().length;
    if (k.item ? k.itemIndent < indent || ind < indent : ind < indent) {
      if (k.item && k.itemIndent === indent && k.key) out.add(k.key);
      return false;
    }
    if (ind === indent && !k.item && k.key) out.add(k.key);
    return true;
  };
  for (let i = here - 1; i >= 0 && scan(i); i--);
  for (let i = here + 1; i < all.length && scan(i); i++);
  return out;
}

/** The `uses:` of the list item that starts on line `start` (on its dash line or a key of its own). */
function usesOfItem(text: string, upTo: Line[], start: number | null): string | null {
  if (start == null) return null;
  const all = text.split('\n');
  const first = keyOf(all[start]);
  if (first.key === 'uses') return first.value || null;
  const inner = first.itemIndent;
  for (let i = start + 1; i < all.length; i++) {
    const raw = all[i];
    if (!raw.trim()) continue;
    const ind = raw.length - raw.trimStart().length;
    if (ind < inner) break;
    const k = keyOf(raw);
    if (ind === inner && !k.item && k.key === 'uses') return k.value || null;
  }
  void upTo;
  return null;
}
