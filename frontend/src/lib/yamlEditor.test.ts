/// <reference types="node" />
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { StepType, WorkflowDefinition } from '../api/types';
import { completionsAt, definitionOfText, lineOf, METADATA_KEYS, pointerRange, SPEC_KEYS, STEP_KEYS, TOP_KEYS, yamlTextOf } from './yamlEditor';

const def = {
  apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: 'rel' },
  spec: { steps: [{ id: 'a', uses: 'core/noop' }, { id: 'b', uses: 'core/sleep', needs: ['a'], with: { seconds: 1 } }] },
  ui: { positions: { a: { x: 0, y: 0 }, b: { x: 200, y: 0 } } },
} as WorkflowDefinition;

const types = [
  { type: 'core/noop', plugin: 'core', title: 'No-op', description: '', config_schema: { type: 'object', properties: {} }, outputs_schema: {}, effects: 'none' },
  { type: 'core/sleep', plugin: 'core', title: 'Sleep', description: '', config_schema: { type: 'object', required: ['seconds'], properties: { seconds: { type: 'number', description: 'How long to wait' }, jitter: { type: 'number' } } }, outputs_schema: {}, effects: 'none' },
] as StepType[];

/** Completions where `|` stands in the text. */
function at(textWithCursor: string) {
  const pos = textWithCursor.indexOf('|');
  const r = completionsAt(textWithCursor.replace('|', ''), pos, types);
  return r && { from: r.from, labels: r.options.map((o) => o.label) };
}

describe('the YAML editor', () => {
  it('hides the layout by default and keeps the hidden positions when the text is read back', () => {
    const hidden = yamlTextOf(def, false);
    expect(hidden).not.toMatch(/positions|ui:/);
    expect(yamlTextOf(def, true)).toMatch(/positions:\n\s+a:/);
    const back = definitionOfText(hidden.replace('seconds: 1', 'seconds: 2'), def, false);
    expect(back.ui?.positions).toEqual(def.ui!.positions);
    expect(back.spec.steps[1].with).toEqual({ seconds: 2 });
    // Shown, the text's positions are the truth (a deleted one is gone).
    const shown = yamlTextOf(def, true).replace(/ {4}b:\n {6}x: 200\n {6}y: 0\n/, '');
    expect(definitionOfText(shown, def, true).ui?.positions).toEqual({ a: { x: 0, y: 0 } });
    expect(() => definitionOfText('- a\n- b', def, false)).toThrow(/mapping/);
    // A half-typed step (`- ` alone) is not drawn: said at its place.
    const half = `${yamlTextOf(def, false)}    - \n`;
    expect(() => definitionOfText(half, def, false)).toThrow(/step 3 of spec.steps is not a step yet/);
    expect(() => definitionOfText(`${yamlTextOf(def, false)}    - id: c\n`, def, false)).toThrow(/step c needs uses/);
    try { definitionOfText(half, def, false); } catch (e) { expect((e as { pointer?: string }).pointer).toBe('/spec/steps/2'); }
  });

  it('maps a validation pointer to its line: the pair, or the nearest part of the path in the text', () => {
    const text = yamlTextOf(def, false);
    const line = (p: string) => { const r = pointerRange(text, p); return r && lineOf(text, r.from); };
    const lines = text.split('\n');
    expect(lines[line('/spec/steps/1/with/seconds')! - 1].trim()).toBe('seconds: 1');
    expect(lines[line('/spec/steps/1/uses')! - 1].trim()).toBe('uses: core/sleep');
    expect(lines[line('/spec/steps/1/with/missing')! - 1].trim()).toBe('with:');
    expect(lines[line('/spec/steps/0')! - 1].trim()).toBe('- id: a');
    expect(lines[line('/metadata/name')! - 1].trim()).toBe('name: rel');
    expect(pointerRange(text, '/nothing/here')).toBeNull();
    const r = pointerRange(text, '/spec/steps/1/with')!;
    expect(text.slice(r.from, r.to)).toBe('with:');
  });

  it('completes the keys the schema allows where the cursor is, leaving out those already set', () => {
    expect(at('|')?.labels).toEqual(Object.keys(TOP_KEYS));
    expect(at('apiVersion: vwmp/v1\nkind: Workflow\n|')?.labels).toEqual(['metadata', 'spec', 'ui']);
    expect(at('metadata:\n  name: x\n  |')?.labels).toEqual(['type', 'description', 'labels']);
    expect(at('spec:\n  steps: []\n  |')?.labels).toEqual(Object.keys(SPEC_KEYS).filter((k) => k !== 'steps'));
    const steps = 'spec:\n  steps:\n    - id: a\n      uses: core/sleep\n';
    expect(at(`${steps}      |`)?.labels).toEqual(Object.keys(STEP_KEYS).filter((k) => k !== 'id' && k !== 'uses'));
    expect(at(`${steps}    - |`)?.labels).toEqual(Object.keys(STEP_KEYS));
    expect(at(`${steps}      with:\n        |`)?.labels).toEqual(['seconds', 'jitter']);
    expect(at(`${steps}      with:\n        seconds: 1\n        j|`)).toEqual({ from: `${steps}      with:\n        seconds: 1\n        `.length, labels: ['jitter'] });
    // The second step's type, not the first's; compact lists (dash under the key) too.
    expect(at('spec:\n  steps:\n  - id: a\n    uses: core/noop\n  - id: b\n    uses: core/sleep\n    with:\n      |')?.labels).toEqual(['seconds', 'jitter']);
    expect(at('spec:\n  finally:\n    - uses: core/sleep\n      with:\n        |')?.labels).toEqual(['seconds', 'jitter']);
    expect(at(`${steps}      uses2: x\n      needs:\n        - |`)).toBeNull();
  });

  it('completes a step\'s uses from the step types', () => {
    const r = at('spec:\n  steps:\n    - id: a\n      uses: co|');
    expect(r?.labels).toEqual(['core/noop', 'core/sleep']);
    expect(r?.from).toBe('spec:\n  steps:\n    - id: a\n      uses: '.length);
    expect(at('spec:\n  steps:\n    - uses: |')?.labels).toEqual(['core/noop', 'core/sleep']);
  });

  it('knows every key of schemas/workflow.schema.json', () => {
    const schema = JSON.parse(fs.readFileSync(fileURLToPath(new URL('../../../schemas/workflow.schema.json', import.meta.url)), 'utf8'));
    expect(Object.keys(TOP_KEYS)).toEqual(Object.keys(schema.properties));
    expect(Object.keys(METADATA_KEYS)).toEqual(Object.keys(schema.properties.metadata.properties));
    expect(Object.keys(SPEC_KEYS)).toEqual(Object.keys(schema.properties.spec.properties));
    expect(Object.keys(STEP_KEYS)).toEqual(Object.keys(schema.$defs.step.properties));
  });
});
