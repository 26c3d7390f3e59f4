import { describe, expect, it } from 'vitest';
import { EXPRESSION_FUNCTIONS, functionsFor, insertFunction, insideExpression } from './functions';

const fn = (name: string) => EXPRESSION_FUNCTIONS.find((f) => f.name === name)!;

describe('expression functions', () => {
  it('offers every function of the language, and the status functions only in if:', () => {
    const names = functionsFor('value').map((f) => f.name);
    expect(names).toEqual(['contains', 'startsWith', 'endsWith', 'format', 'join', 'split', 'toJSON', 'fromJSON', 'length', 'lower', 'upper', 'trim']);
    expect(functionsFor('if').map((f) => f.name)).toEqual(expect.arrayContaining([...names, 'success', 'failure', 'cancelled', 'always']));
  });

  it('knows whether the cursor is inside ${{ }}', () => {
    expect(insideExpression('${{ a', 5)).toBe(true);
    expect(insideExpression('${{ a }} b', 9)).toBe(false);
    expect(insideExpression('plain', 3)).toBe(false);
  });

  it('inserts a call at the cursor, wrapped in ${{ }} outside an expression', () => {
    expect(insertFunction('', 0, fn('length'))).toEqual({ text: '${{ length() }}', cursor: 11 });
    expect(insertFunction('${{  }}', 4, fn('upper'))).toEqual({ text: '${{ upper() }}', cursor: 10 });
    expect(insertFunction('${{ x }}', 4, fn('always'))).toEqual({ text: '${{ always()x }}', cursor: 12 });
    expect(insertFunction('v-', 2, fn('failure'))).toEqual({ text: 'v-${{ failure() }}', cursor: 18 });
  });
});
