import { describe, expect, it } from 'vitest';
import type { JSONSchema7 } from '../api/types';
import { fieldEditorRefusal, fieldsOf, readRows, rowsOf, sameParameters, schemaOf } from './paramSchema';

const release = {
  type: 'object',
  required: ['repo', 'part'],
  properties: {
    repo: { type: 'string', title: 'Repository', description: 'Path in the workspace' },
    part: { type: 'string', enum: ['major', 'minor', 'patch'], default: 'minor' },
    attempts: { type: 'integer', default: 3 },
    ratio: { type: 'number', default: 0.5 },
    dry_run: { type: 'boolean', default: false },
  },
} as JSONSchema7;

describe('run parameters as fields', () => {
  it('round-trips a flat schema through fields and typed rows without losing a key', () => {
    expect(fieldEditorRefusal(release)).toEqual([]);
    const back = readRows(rowsOf(fieldsOf(release)));
    expect('fields' in back).toBe(true);
    if (!('fields' in back)) return;
    const s = schemaOf(back.fields);
    expect(sameParameters(s, release)).toBe(true);
    expect(s).toEqual({ ...release, required: ['repo', 'part'] });
    expect(fieldsOf(release).map((f) => [f.name, f.type, f.required])).toEqual([
      ['repo', 'string', true], ['part', 'string', true], ['attempts', 'integer', false], ['ratio', 'number', false], ['dry_run', 'boolean', false],
    ]);
  });

  it('an empty or missing schema is no fields, and no fields is an empty object schema', () => {
    expect(fieldEditorRefusal(undefined)).toEqual([]);
    expect(fieldEditorRefusal({ type: 'object', properties: {}, required: [] } as JSONSchema7)).toEqual([]);
    expect(schemaOf([])).toEqual({ type: 'object', properties: {} });
  });

  it('names, as JSON pointers, what the fields cannot hold, so the editor falls back to raw JSON', () => {
    const s = {
      type: 'object', additionalProperties: false, $defs: {},
      properties: {
        repo: { type: 'string', pattern: '^[a-z]+$' },
        tags: { type: 'array', items: { type: 'string' } },
        who: { type: ['string', 'null'] },
        'a/b': { type: 'string' },
        choice: { type: 'string', enum: ['a, b', 'c'] },
        n: { type: 'integer', default: 1.5 },
      },
    } as unknown as JSONSchema7;
    expect(fieldEditorRefusal(s)).toEqual([
      '/additionalProperties', '/$defs', '/properties/repo/pattern', '/properties/tags/items', '/properties/tags/type',
      '/properties/who/type', '/properties/a~1b', '/properties/choice/enum', '/properties/n/default',
    ]);
    // A key the rows would drop (an empty string default) is caught by the round trip.
    expect(fieldEditorRefusal({ type: 'object', properties: { x: { type: 'string', default: '' } } } as JSONSchema7)).toEqual(['']);
  });

  it('reads typed rows: defaults and choices by type, errors in words at the field', () => {
    const ok = readRows([
      { name: 'count', type: 'integer', required: true, description: '', defaultText: '3', enumText: '1, 3, 5' },
      { name: 'flag', type: 'boolean', required: false, description: 'Dry run?', defaultText: 'true', enumText: '' },
    ]);
    expect(ok).toEqual({ fields: [
      { name: 'count', type: 'integer', required: true, default: 3, enum: [1, 3, 5] },
      { name: 'flag', type: 'boolean', required: false, description: 'Dry run?', default: true },
    ] });
    const bad = readRows([
      { name: '', type: 'string', required: false, description: '', defaultText: '', enumText: '' },
      { name: 'n', type: 'integer', required: false, description: '', defaultText: 'abc', enumText: '' },
      { name: 'n', type: 'string', required: false, description: '', defaultText: '', enumText: '' },
      { name: 'c', type: 'string', required: false, description: '', defaultText: 'z', enumText: 'a, b' },
      { name: 'm', type: 'number', required: false, description: '', defaultText: '', enumText: '1,,2' },
    ]);
    expect('errors' in bad && Object.fromEntries(bad.errors)).toEqual({
      0: { name: 'a parameter needs a name' },
      1: { default: 'the default must be a whole number' },
      2: { name: 'n is already parameter 2' },
      3: { default: 'the default must be one of the choices (a, b)' },
      4: { enum: 'an empty choice (two commas in a row?)' },
    });
  });
});
