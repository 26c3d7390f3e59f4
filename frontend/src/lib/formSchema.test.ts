// Optional fields as one field, defaults kept out of a step's data, ajv messages in words.
import { describe, expect, it } from 'vitest';
import { defaultHints, humaniseErrors, isNullSchema, normaliseSchema, sameValue } from './formSchema';
import { VERSION_BUMP } from './schemaFixtures';
import type { JSONSchema7 } from '../api/types';


describe('normaliseSchema', () => {
  it('turns each `X | None = None` field into a plain optional X, keeping the field\'s own title and description', () => {
    const s = normaliseSchema(VERSION_BUMP);
    expect(s.properties!.part).toEqual({ type: 'string', enum: ['major', 'minor', 'patch', 'prerelease'], title: 'Part', description: 'Which part' });
    expect(s.properties!.version).toEqual({ type: 'string', title: 'Version' });
    expect(s.properties!.files).toEqual({ type: 'array', items: { type: 'string' }, title: 'Files' });
    expect(JSON.stringify(s)).not.toMatch(/anyOf|"null"/);
    expect(s.required).toEqual(['repo']);
  });

  it('drops every default of a step\'s form, and keeps the non-null ones for the run form', () => {
    expect(normaliseSchema(VERSION_BUMP).properties!.prerelease_label).toEqual({ type: 'string', title: 'Prerelease Label' });
    const kept = normaliseSchema(VERSION_BUMP, { keepDefaults: true });
    expect(kept.properties!.prerelease_label.default).toBe('rc');
    expect('default' in kept.properties!.version).toBe(false); // null is "no value", not a default
  });

  it('handles type lists, nullable enums, nested models ($defs, $ref), items and longer unions', () => {
    const s = normaliseSchema({
      type: 'object',
      $defs: { Rule: { type: 'object', properties: { level: { type: ['string', 'null'], enum: ['warn', 'error', null] } } } },
      properties: {
        rule: { anyOf: [{ $ref: '#/$defs/Rule' }, { type: 'null' }], title: 'Rule' },
        rules: { type: 'array', items: { anyOf: [{ $ref: '#/$defs/Rule' }, { type: 'null' }] } },
        either: { anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] },
        count: { type: ['integer', 'null'], default: 3 },
      },
    });
    expect(s.$defs).toEqual({ Rule: { type: 'object', properties: { level: { type: 'string', enum: ['warn', 'error'] } } } });
    expect(s.properties!.rule).toEqual({ $ref: '#/$defs/Rule', title: 'Rule' });
    expect(s.properties!.rules.items).toEqual({ $ref: '#/$defs/Rule' });
    expect(s.properties!.either).toEqual({ anyOf: [{ type: 'string' }, { type: 'integer' }] });
    expect(s.properties!.count).toEqual({ type: 'integer' });
  });

  it('leaves a schema without null branches as it was, and does not touch its input', () => {
    const plain: JSONSchema7 = { type: 'object', properties: { a: { anyOf: [{ type: 'string' }, { type: 'integer' }] } } };
    const before = JSON.stringify(VERSION_BUMP);
    expect(normaliseSchema(plain)).toEqual(plain);
    normaliseSchema(VERSION_BUMP);
    expect(JSON.stringify(VERSION_BUMP)).toBe(before);
    expect(isNullSchema({ type: 'null' })).toBe(true);
    expect(isNullSchema({ type: 'string' })).toBe(false);
  });
});

describe('defaultHints', () => {
  it('shows a field\'s default as its placeholder; a boolean with a default becomes a three-way select', () => {
    const ui = defaultHints({ type: 'object', properties: { ...VERSION_BUMP.properties, push: { type: 'boolean', default: true } } });
    expect(ui).toEqual({
      prerelease_label: { 'ui:placeholder': 'default: rc' },
      push: { 'ui:widget': 'defaultBoolean', 'ui:placeholder': 'default: yes' },
    });
  });
});

describe('humaniseErrors', () => {
  const params: JSONSchema7 = { type: 'object', required: ['who'], properties: { who: { type: 'string', title: 'Who to greet' }, n: { type: 'integer' } } };

  it('names a missing field by its title, in words', () => {
    const [e] = humaniseErrors([{ name: 'required', property: '.who', message: "must have required property 'who'", params: { missingProperty: 'who' } }], params);
    expect(e.message).toBe('Who to greet is required');
    expect(e.stack).toBe('Who to greet is required');
  });

  it('falls back to the key without a title, and words other kinds', () => {
    expect(humaniseErrors([{ name: 'required', property: '', params: { missingProperty: 'n' } }], params)[0].message).toBe('n is required');
    expect(humaniseErrors([{ name: 'type', property: '.n', params: { type: 'integer' }, message: 'must be integer' }], params)[0].message)
      .toBe('n must be a whole number');
    expect(humaniseErrors([{ name: 'enum', property: '.who', params: { allowedValues: ['a', 'b'] } }], params)[0].message)
      .toBe('Who to greet must be one of: a, b');
  });
});

describe('sameValue', () => {
  it('ignores key order and undefined keys, but not values', () => {
    expect(sameValue({ repo: 'shop', part: 'minor' }, { part: 'minor', repo: 'shop', files: undefined })).toBe(true);
    expect(sameValue({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(sameValue({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(sameValue({ a: 'rc' }, {})).toBe(false);
  });
});
