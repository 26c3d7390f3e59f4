import { describe, expect, it } from 'vitest';
import { NODE_HEIGHT, NODE_WIDTH, flowsDown, handlesOf } from './graph';
import { chooseDirection, graphShape, layoutSteps } from './layout';

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

  // The figure itself is `make bench`'s (frontend/e2e/layout-bench.e2e.test.mjs, under a second); here
  // only a blow-up (a quadratic layout takes tens of seconds) fails, not a busy machine.
  it('lays out 300 steps without blowing up', () => {
    const steps = Array.from({ length: 300 }, (_, i) => ({
      id: `s${i}`,
      needs: i === 0 ? [] : [`s${Math.floor((i - 1) / 3)}`],
    }));
    const t = performance.now();
    const p = layoutSteps(steps);
    const ms = performance.now() - t;
    expect(Object.keys(p)).toHaveLength(300);
    expect(ms).toBeLessThan(10_000);
  });

  it('measures depth and breadth, tolerating cycles and dangling needs', () => {
    expect(graphShape([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['a'] }, { id: 'd', needs: ['b', 'c'] }]))
      .toEqual({ depth: 3, breadth: 2 });
    expect(graphShape([{ id: 'x', needs: ['y'] }, { id: 'y', needs: ['x'] }, { id: 'z', needs: ['gone'] }]))
      .toEqual({ depth: 1, breadth: 3 });
    expect(graphShape([])).toEqual({ depth: 0, breadth: 0 });
  });

  it('lays a long release chain out top to bottom so its nodes stay readable', () => {
    const release = ['branch', 'lint', 'bump', 'changelog', 'kb', 'kanban', 'commit', 'tag', 'approve', 'push'];
    const needs: Record<string, string[]> = {
      lint: ['branch'], bump: ['lint'], changelog: ['bump'], kb: ['changelog'], kanban: ['changelog'],
      commit: ['kb', 'kanban'], tag: ['commit'], approve: ['tag'], push: ['approve'],
    };
    const steps = release.map((id) => ({ id, needs: needs[id] }));
    expect(chooseDirection(steps)).toBe('TB');
    const p = layoutSteps(steps);
    expect(p.push.y).toBeGreaterThan(p.approve.y);
    expect(p.kb.y).toBe(p.kanban.y);
    expect(p.kb.x).not.toBe(p.kanban.x);
    expect(flowsDown(steps, p)).toBe(true);
  });

  it('keeps short or wide graphs left to right', () => {
    expect(chooseDirection([{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }])).toBe('LR');
    const fan = [{ id: 'root' }, ...Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, needs: ['root'] }))];
    expect(chooseDirection(fan)).toBe('LR');
    expect(flowsDown(fan, layoutSteps(fan))).toBe(false);
  });

  it('reads the flow direction from drawn positions', () => {
    const steps = [{ id: 'a' }, { id: 'b', needs: ['a'] }, { id: 'c', needs: ['b'] }];
    expect(flowsDown(steps, { a: { x: 0, y: 0 }, b: { x: 300, y: 0 }, c: { x: 0, y: 200 } })).toBe(false);
    expect(flowsDown(steps, { a: { x: 0, y: 0 }, b: { x: 0, y: 120 }, c: { x: 40, y: 240 } })).toBe(true);
    expect(flowsDown(steps, {})).toBe(false);
  });

  it('declares handles where the flow direction puts them', () => {
    const [inLR, outLR] = handlesOf(false);
    expect([inLR.position, outLR.position]).toEqual(['left', 'right']);
    expect(outLR.x + (outLR.width ?? 0) / 2).toBe(NODE_WIDTH);
    const [inTB, outTB] = handlesOf(true);
    expect([inTB.type, inTB.position, outTB.type, outTB.position]).toEqual(['target', 'top', 'source', 'bottom']);
    expect(outTB.y + (outTB.height ?? 0) / 2).toBe(NODE_HEIGHT);
  });
});
