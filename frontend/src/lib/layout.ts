import dagre from '@dagrejs/dagre';
import type { Position, StepDefinition } from '../api/types';
import { NODE_HEIGHT, NODE_WIDTH } from './graph';

export type Direction = 'LR' | 'TB';

/** Layered layout of the needs graph; returns top-left positions keyed by step id. */
export function layoutSteps(
  steps: Pick<StepDefinition, 'id' | 'needs'>[],
  direction: Direction = 'LR',
): Record<string, Position> {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: direction, nodesep: 28, ranksep: 70, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map((s) => s.id));
  for (const s of steps) g.setNode(s.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const s of steps) for (const n of s.needs ?? []) if (ids.has(n) && n !== s.id) g.setEdge(n, s.id);
  dagre.layout(g);
  const out: Record<string, Position> = {};
  for (const s of steps) {
    const n = g.node(s.id);
    out[s.id] = { x: Math.round(n.x - NODE_WIDTH / 2), y: Math.round(n.y - NODE_HEIGHT / 2) };
  }
  return out;
}
