import { describe, expect, it } from 'vitest';
import { layoutSteps } from './layout';

describe('layout', () => {
  it('places dependents to the right of what they need (LR)', () => {
    const p = layoutSteps([
      { id: 'a' },
      { id: 'b', needs: ['a'] },
      { id: 'c', needs: ['a'] },
      { id: 'd', needs: ['b', 'c'] },
    ]);
    expect(p.b.x).toBeGreaterThan(p.a.x);
    expect(p.d.x).toBeGreaterThan(p.b.x);
    expect(p.b.y).not.toBe(p.c.y);
  });

  it('lays out top-to-bottom on request and tolerates dangling needs', () => {
    const p = layoutSteps([{ id: 'a' }, { id: 'b', needs: ['a', 'missing'] }], 'TB');
    expect(p.b.y).toBeGreaterThan(p.a.y);
    expect(Object.keys(p)).toEqual(['a', 'b']);
  });

  it('lays out 300 steps quickly', () => {
    const steps = Array.from({ length: 300 }, (_, i) => ({
      id: `s${i}`,
      needs: i === 0 ? [] : [`s${Math.floor((i - 1) / 3)}`],
    }));
    const t = performance.now();
    const p = layoutSteps(steps);
    const ms = performance.now() - t;
    expect(Object.keys(p)).toHaveLength(300);
    expect(ms).toBeLessThan(1000);
  });
});
