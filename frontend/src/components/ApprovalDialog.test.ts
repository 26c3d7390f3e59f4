import { describe, expect, it } from 'vitest';
import { wouldUndoMoreOf, wouldUndoOf } from './ApprovalDialog';

describe('what a gate says a later failure would undo', () => {
  it('lists the named compensations and counts the ones past the first hundred', () => {
    const outputs = { would_undo: [{ step: 'tag[4]', uses: 'git/delete-tag' }, { step: 'commit', uses: 'git/reset-to' }, { step: 7 }],
      would_undo_more: 3 };
    expect(wouldUndoOf(outputs)).toEqual([{ step: 'tag[4]', uses: 'git/delete-tag' }, { step: 'commit', uses: 'git/reset-to' }]);
    expect(wouldUndoMoreOf(outputs)).toBe(3);
    for (const more of [undefined, 0, -1, 2.5, '3']) expect(wouldUndoMoreOf({ would_undo_more: more })).toBe(0);
    expect(wouldUndoMoreOf(null)).toBe(0);
  });
});
