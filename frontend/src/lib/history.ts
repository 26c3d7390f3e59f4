// Undo/redo over whole definitions: they are small, immutable and structurally shared.
export interface History<T> {
  past: T[];
  present: T;
  future: T[];
}

export type HistoryAction<T> =
  | { type: 'set'; value: T; record?: boolean }
  | { type: 'reset'; value: T }
  | { type: 'undo' }
  | { type: 'redo' };

const LIMIT = 200;

export function historyReducer<T>(h: History<T>, a: HistoryAction<T>): History<T> {
  switch (a.type) {
    case 'reset':
      return { past: [], present: a.value, future: [] };
    case 'set':
      if (a.value === h.present) return h;
      if (a.record === false) return { ...h, present: a.value };
      return { past: [...h.past, h.present].slice(-LIMIT), present: a.value, future: [] };
    case 'undo':
      if (!h.past.length) return h;
      return { past: h.past.slice(0, -1), present: h.past[h.past.length - 1], future: [h.present, ...h.future] };
    case 'redo':
      if (!h.future.length) return h;
      return { past: [...h.past, h.present], present: h.future[0], future: h.future.slice(1) };
  }
}
