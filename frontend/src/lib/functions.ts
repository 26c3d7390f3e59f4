// The functions `${{ }}` expressions know (docs/engine.md, issue 12), for the expression fields'
// help list. The engine's validator is the judge; this list only offers what it accepts.

export interface ExpressionFunction {
  name: string;
  /** What the help list shows and what picking it inserts. */
  signature: string;
  description: string;
  /** A status function: only in `if:`. */
  status?: boolean;
}

export const EXPRESSION_FUNCTIONS: readonly ExpressionFunction[] = [
  { name: 'contains', signature: 'contains(haystack, needle)', description: 'a string contains a substring, or a list an element' },
  { name: 'startsWith', signature: 'startsWith(text, prefix)', description: 'text begins with prefix' },
  { name: 'endsWith', signature: 'endsWith(text, suffix)', description: 'text ends with suffix' },
  { name: 'format', signature: "format('{0}-{1}', a, b)", description: 'fills {0}, {1}, … with the arguments' },
  { name: 'join', signature: "join(list, ', ')", description: 'the elements as one string' },
  { name: 'split', signature: "split(text, ',')", description: 'a list of the parts between separators' },
  { name: 'toJSON', signature: 'toJSON(value)', description: 'a value as JSON text' },
  { name: 'fromJSON', signature: 'fromJSON(text)', description: 'JSON text as a value' },
  { name: 'length', signature: 'length(value)', description: 'characters of a string, elements of a list, keys of an object' },
  { name: 'lower', signature: 'lower(text)', description: 'lower-case' },
  { name: 'upper', signature: 'upper(text)', description: 'upper-case' },
  { name: 'trim', signature: 'trim(text)', description: 'without surrounding white space' },
  { name: 'success', signature: 'success()', description: 'every need succeeded (the default)', status: true },
  { name: 'failure', signature: 'failure()', description: 'any need failed (in finally: the run failed)', status: true },
  { name: 'cancelled', signature: 'cancelled()', description: 'the run was cancelled', status: true },
  { name: 'always', signature: 'always()', description: 'always true: run whatever happened', status: true },
];

/** The functions of a field: status functions only where a condition is edited (`if:`). */
export function functionsFor(kind: 'if' | 'value'): ExpressionFunction[] {
  return EXPRESSION_FUNCTIONS.filter((f) => kind === 'if' || !f.status);
}

/** Whether `at` (a cursor offset) is inside an open `${{ … }}` of `text`. */
export function insideExpression(text: string, at: number): boolean {
  const before = text.slice(0, at);
  const open = before.lastIndexOf('${{');
  return open >= 0 && before.indexOf('}}', open) < 0;
}

/**
 * Inserts a function call at the cursor; outside an expression it brings its own `${{ }}`. Returns
 * the new text and where the cursor goes (inside the parentheses when the function takes arguments).
 */
export function insertFunction(text: string, at: number, fn: ExpressionFunction): { text: string; cursor: number } {
  const pos = Math.max(0, Math.min(at, text.length));
  const call = fn.signature.endsWith('()') ? `${fn.name}()` : `${fn.name}(`;
  const closing = fn.signature.endsWith('()') ? '' : ')';
  const wrap = !insideExpression(text, pos);
  const left = wrap ? `\${{ ${call}` : call;
  const right = wrap ? `${closing} }}` : closing;
  const cursor = pos + left.length + (closing ? 0 : right.length);
  return { text: text.slice(0, pos) + left + right + text.slice(pos), cursor };
}
