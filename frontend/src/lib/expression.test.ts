import { describe, expect, it } from 'vitest';
import { dropExpressionErrors, expressionUiSchema, propertyPath, isFreeFormObject } from './expression';

describe('${{ }} references in config forms', () => {
  it('parses rjsf property paths', () => {
    expect(propertyPath('.a.b')).toEqual(['a', 'b']);
    expect(propertyPath(".list.0['odd-key']")).toEqual(['list', '0', 'odd-key']);
  });

  it('drops type/enum errors on fields that hold a reference, keeps the others', () => {
    const data = { count: '${{ params.n }}', part: '${{ params.part }}', list: '${{ params.x }}', other: 'x' };
    const errors = [
      { property: '.count', name: 'type', message: 'must be number' },
      { property: '.part', name: 'enum', message: 'must be one of' },
      { property: '.list.0', name: 'type', message: 'nested under a reference' },
      { property: '.other', name: 'pattern', message: 'bad' },
      { property: '.repo', name: 'required', message: 'required' },
    ];
    expect(dropExpressionErrors(errors, data).map((e) => e.property)).toEqual(['.other', '.repo']);
  });

  it('renders numbers as text, enums as suggestions and non-string references as text fields', () => {
    const schema = {
      type: 'object',
      properties: {
        n: { type: 'integer' },
        part: { enum: ['major', 'minor'] },
        flag: { type: 'boolean' },
        repo: { type: 'string' },
      },
    };
    const ui = expressionUiSchema(schema, { flag: '${{ params.f }}', repo: '${{ params.repo }}' });
    expect(ui.n).toEqual({ 'ui:options': { inputType: 'text' } });
    expect(ui.part).toEqual({ 'ui:widget': 'suggest' });
    expect(ui.flag).toEqual({ 'ui:field': 'expression' });
    expect(ui.repo).toBeUndefined();
  });
});

describe('free-form objects in a config form', () => {
  it('edits an object without properties (an approval gate\'s inputs schema) as text, optional or not', () => {
    expect(isFreeFormObject({ type: 'object' })).toBe(true);
    expect(isFreeFormObject({ anyOf: [{ type: 'object', additionalProperties: true }, { type: 'null' }] })).toBe(true);
    expect(isFreeFormObject({ type: 'object', properties: { roles: { type: 'array' } } })).toBe(false);
    expect(isFreeFormObject({ anyOf: [{ type: 'string' }, { type: 'object' }] })).toBe(false);
    expect(isFreeFormObject({ type: 'string' })).toBe(false);
    const ui = expressionUiSchema({
      type: 'object',
      properties: { inputs: { type: 'object' }, approvers: { type: 'object', properties: { names: { type: 'array', items: { type: 'string' } } } }, required: { type: 'integer' } },
    }, {});
    expect(ui).toEqual({ inputs: { 'ui:field': 'yamlText' }, approvers: {}, required: { 'ui:options': { inputType: 'text' } } });
  });
});
