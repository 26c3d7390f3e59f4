// Definition → React Flow nodes/edges. Kept free of React so it is unit-tested and fast.
import { Position as Side, type Edge, type Node, type NodeHandle } from '@xyflow/react';
import type { Position, StepDefinition, StepState, WorkflowDefinition } from '../api/types';
import { positionsOf } from './definition';

export interface StepNodeData extends Record<string, unknown> {
  step: StepDefinition;
  title: string;
  plugin: string;
  errors: string[];
  unknownType: boolean;
  /** Handles on top and bottom (the graph flows downwards) instead of left and right. */
  vertical: boolean;
}

export interface RunNodeData extends Record<string, unknown> {
  step: StepDefinition;
  title: string;
  state: StepState;
  attempt: number;
  durationMs: number | null;
  dryRun: boolean;
  vertical: boolean;
}

export type StepNode = Node<StepNodeData, 'step'>;
export type GateNode = Node<StepNodeData, 'gate'>;
export type DesignNode = StepNode | GateNode;
export type RunNode = Node<RunNodeData, 'run'>;

export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 64;

export interface TypeInfo {
  title: string;
  plugin: string;
}

export function nodeKindOf(uses: string): 'step' | 'gate' {
  return uses === 'core/approval' ? 'gate' : 'step';
}

export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

export function edgesOf(def: WorkflowDefinition, animated?: (source: string, target: string) => boolean): Edge[] {
  const ids = new Set(def.spec.steps.map((s) => s.id));
  const edges: Edge[] = [];
  for (const s of def.spec.steps) {
    for (const n of s.needs ?? []) {
      if (!ids.has(n)) continue;
      edges.push({ id: edgeId(n, s.id), source: n, target: s.id, animated: animated?.(n, s.id) ?? false });
    }
  }
  return edges;
}

/**
 * Which way the drawn graph flows, read from the positions (no extra field in the definition): top
 * to bottom when its edges run more downwards than sideways, so handles sit where the edges go.
 */
export function flowsDown(steps: Pick<StepDefinition, 'id' | 'needs'>[], positions: Record<string, Position>): boolean {
  let dx = 0;
  let dy = 0;
  for (const s of steps) {
    const to = positions[s.id];
    if (!to) continue;
    for (const n of s.needs ?? []) {
      const from = positions[n];
      if (!from || n === s.id) continue;
      dx += Math.abs(to.x - from.x);
      dy += Math.abs(to.y - from.y);
    }
  }
  return dy > dx;
}

const HANDLE = 6; // React Flow's default handle size, centred on the node's border

/**
 * A node's two handles where the DOM puts them (see nodes.tsx), declared up front: the run view
 * rebuilds its nodes on every tick, and declared handles keep the edges drawn without waiting for
 * React Flow to measure each new node object again.
 */
export function handlesOf(vertical: boolean): NodeHandle[] {
  const half = HANDLE / 2;
  return vertical
    ? [{ type: 'target', position: Side.Top, x: NODE_WIDTH / 2 - half, y: -half, width: HANDLE, height: HANDLE },
      { type: 'source', position: Side.Bottom, x: NODE_WIDTH / 2 - half, y: NODE_HEIGHT - half, width: HANDLE, height: HANDLE }]
    : [{ type: 'target', position: Side.Left, x: -half, y: NODE_HEIGHT / 2 - half, width: HANDLE, height: HANDLE },
      { type: 'source', position: Side.Right, x: NODE_WIDTH - half, y: NODE_HEIGHT / 2 - half, width: HANDLE, height: HANDLE }];
}

function fallbackPosition(index: number): Position {
  return { x: (index % 4) * (NODE_WIDTH + 60), y: Math.floor(index / 4) * (NODE_HEIGHT + 60) };
}

export function designNodesOf(
  def: WorkflowDefinition,
  types: Map<string, TypeInfo>,
  errorsByStep: Map<string, string[]>,
  selected: Set<string> = new Set(),
): DesignNode[] {
  const positions = positionsOf(def);
  const vertical = flowsDown(def.spec.steps, positions);
  return def.spec.steps.map((step, i) => {
    const info = types.get(step.uses);
    return {
      id: step.id,
      type: nodeKindOf(step.uses),
      position: positions[step.id] ?? fallbackPosition(i),
      selected: selected.has(step.id),
      data: {
        step,
        title: info?.title ?? step.uses,
        plugin: info?.plugin ?? step.uses.split('/')[0],
        errors: errorsByStep.get(step.id) ?? [],
        unknownType: types.size > 0 && !info,
        vertical,
      },
    };
  });
}

/** Whether every step has a stored position; if not, the designer lays the graph out on open. */
export function needsLayout(def: WorkflowDefinition): boolean {
  const positions = positionsOf(def);
  return def.spec.steps.some((s) => !positions[s.id]);
}

function sameNode(a: DesignNode, b: DesignNode): boolean {
  return a.type === b.type && a.position.x === b.position.x && a.position.y === b.position.y && !!a.selected === !!b.selected
    && a.data.step === b.data.step && a.data.title === b.data.title && a.data.plugin === b.data.plugin
    && a.data.unknownType === b.data.unknownType && a.data.vertical === b.data.vertical && a.data.errors.join('\n') === b.data.errors.join('\n');
}

/**
 * Keeps the previous node object when nothing about it changed and carries measured sizes over,
 * so React Flow neither re-renders nor re-measures 300 nodes after every edit or validation.
 */
export function reconcileNodes(prev: DesignNode[], next: DesignNode[]): DesignNode[] {
  const byId = new Map(prev.map((n) => [n.id, n]));
  let changed = prev.length !== next.length;
  const out = next.map((n, i) => {
    const p = byId.get(n.id);
    if (p && sameNode(p, n)) {
      if (prev[i] !== p) changed = true;
      return p;
    }
    changed = true;
    // Handles moved (the graph now flows the other way): drop the size so React Flow measures them anew.
    return p?.measured && p.data.vertical === n.data.vertical ? { ...n, measured: p.measured } : n;
  });
  return changed ? out : prev;
}
