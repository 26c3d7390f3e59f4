import { describe, expect, it } from 'vitest';
import { historyReducer, type History } from './history';

describe('undo/redo history', () => {
  it('records sets, undoes and redoes, and a new set clears the redo stack', () => {
    let h: History<number> = { past: [], present: 0, future: [] };
    h = historyReducer(h, { type: 'set', value: 1 });
    h = historyReducer(h, { type: 'set', value: 2 });
    h = historyReducer(h, { type: 'undo' });
    expect(h.present).toBe(1);
    h = historyReducer(h, { type: 'redo' });
    expect(h.present).toBe(2);
    h = historyReducer(h, { type: 'undo' });
    h = historyReducer(h, { type: 'set', value: 5 });
    expect(h).toEqual({ past: [0, 1], present: 5, future: [] });
    h = historyReducer(h, { type: 'set', value: 6, record: false });
    expect(h.past).toEqual([0, 1]);
    expect(historyReducer(h, { type: 'reset', value: 9 })).toEqual({ past: [], present: 9, future: [] });
  });
});
