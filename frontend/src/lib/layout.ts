import dagre from '@dagrejs/dagre';
import type { Position, StepDefinition, WorkflowDefinition } from '../api/types';
import { finallyOf } from './definition';
import { NODE_HEIGHT, NODE_WIDTH } from './graph';

export type Direction = 'LR' | 'TB';

type Steps = Pick<StepDefinition, 'id' | 'needs'>[];

const NODESEP = 28;
const RANKSEP: Record<Direction, number> = { LR: 70, TB: 50 };
// The canvas a graph is fitted into, roughly (designer and run view at 1440×900, side panels open).
const VIEW = { width: 900, height: 760 };

/** Number of layers (longest needs chain) and the widest layer, in O(steps + needs). */
export function graphShape(steps: Steps): { depth: number; breadth: number } {
  const ids = new Set(steps.map((s) => s.id));
  const indegree = new Map(steps.map((s) => [s.id, 0]));
  const children = new Map<string, string[]>(steps.map((s) => [s.id, []]));
  for (const s of steps) {
    for (const n of new Set(s.needs ?? [])) {
      if (!ids.has(n) || n === s.id) continue;
      children.get(n)!.push(s.id);
      indegree.set(s.id, indegree.get(s.id)! + 1);
    }
  }
  const rank = new Map<string, number>();
  const queue = steps.filter((s) => indegree.get(s.id) === 0).map((s) => s.id);
  for (const id of queue) rank.set(id, 0);
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    for (const c of children.get(id)!) {
      rank.set(c, Math.max(rank.get(c) ?? 0, rank.get(id)! + 1));
      indegree.set(c, indegree.get(c)! - 1);
      if (indegree.get(c) === 0) queue.push(c);
    }
  }
  const perRank = new Map<number, number>();
  for (const s of steps) {
    const r = rank.get(s.id) ?? 0; // a step on a cycle: the server reports it; lay it out anyway
    perRank.set(r, (perRank.get(r) ?? 0) + 1);
  }
  return { depth: perRank.size ? Math.max(...perRank.keys()) + 1 : 0, breadth: Math.max(0, ...perRank.values()) };
}

/** The zoom at which a layered graph of this shape fits the canvas, capped at 1. */
function fitZoom(depth: number, breadth: number, direction: Direction): number {
  const along = direction === 'LR' ? NODE_WIDTH : NODE_HEIGHT;
  const across = direction === 'LR' ? NODE_HEIGHT : NODE_WIDTH;
  const length = depth * along + Math.max(0, depth - 1) * RANKSEP[direction];
  const width = breadth * across + Math.max(0, breadth - 1) * NODESEP;
  const [w, h] = direction === 'LR' ? [length, width] : [width, length];
  return Math.min(1, VIEW.width / Math.max(w, 1), VIEW.height / Math.max(h, 1));
}

/**
 * Left to right unless the graph is a long narrow chain (a release pipeline): laid out left to
 * right its nodes would be unreadably small once fitted, so it goes top to bottom instead.
 */
export function chooseDirection(steps: Steps): Direction {
  const { depth, breadth } = graphShape(steps);
  return fitZoom(depth, breadth, 'TB') > fitZoom(depth, breadth, 'LR') * 1.1 ? 'TB' : 'LR';
}

/** Layered layout of the needs graph; returns top-left positions keyed by step id. */
export function layoutSteps(steps: Steps, direction: Direction | 'auto' = 'auto'): Record<string, Position> {
  const dir = direction === 'auto' ? chooseDirection(steps) : direction;
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: dir, nodesep: NODESEP, ranksep: RANKSEP[dir], marginx: 20, marginy: 20 });
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

// From the lowest main step to the first finally step: a gap, then the lane's header (graph.ts laneBoxOf).
const LANE_OFFSET = 110;

/**
 * Both lanes laid out: the main graph as layoutSteps does, the finally steps left to right in their
 * own band below it.
 */
export function layoutDefinition(def: Pick<WorkflowDefinition, 'spec'>, direction: Direction | 'auto' = 'auto'): Record<string, Position> {
  const main = layoutSteps(def.spec.steps, direction);
  const fin = finallyOf(def as WorkflowDefinition);
  if (!fin.length) return main;
  const mains = Object.values(main);
  const x0 = mains.length ? Math.min(...mains.map((p) => p.x)) : 20;
  const bottom = mains.length ? Math.max(...mains.map((p) => p.y)) + NODE_HEIGHT : 0;
  const laid = layoutSteps(fin, 'LR');
  const fx = Math.min(...Object.values(laid).map((p) => p.x));
  const fy = Math.min(...Object.values(laid).map((p) => p.y));
  const out = { ...main };
  for (const [id, p] of Object.entries(laid)) out[id] = { x: p.x - fx + x0, y: p.y - fy + bottom + LANE_OFFSET };
  return out;
}
