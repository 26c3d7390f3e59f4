// Definition → React Flow nodes/edges. Kept free of React so it is unit-tested and fast.
import { MarkerType, Position as Side, type Edge, type Node, type NodeHandle } from '@xyflow/react';
import type { Lane, Position, StepDefinition, StepState, WorkflowDefinition } from '../api/types';
import { allSteps, fanOutOf, finallyOf, isSubWorkflow, positionsOf } from './definition';

export interface StepNodeData extends Record<string, unknown> {
  step: StepDefinition;
  title: string;
  plugin: string;
  /** The step type's icon from its plugin's metadata (an emoji or a data:image URI), if it has one. */
  icon?: string;
  errors: string[];
  unknownType: boolean;
  /** Handles on top and bottom (the graph flows downwards) instead of left and right. */
  vertical: boolean;
  lane: Lane;
}

/** How far a fan-out step has come: its instances by state. */
export interface FanProgress {
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  running: number;
}

export interface RunNodeData extends Record<string, unknown> {
  step: StepDefinition;
  title: string;
  state: StepState;
  attempt: number;
  durationMs: number | null;
  dryRun: boolean;
  vertical: boolean;
  lane: Lane;
  /** A fan-out step's instances (null: not a fan-out, or not expanded yet). */
  progress: FanProgress | null;
  /** A sub-workflow step's child run, once known. */
  childRunId: string | null;
  /** The unwind of a failed run: the step's compensation runs, undid it, or failed. */
  compensation?: 'compensating' | 'compensated' | 'failed' | null;
}

export type StepNode = Node<StepNodeData, 'step'>;
export type GateNode = Node<StepNodeData, 'gate'>;
export type WorkflowNode = Node<StepNodeData, 'workflow'>;
export type DesignNode = StepNode | GateNode | WorkflowNode;
export type RunNode = Node<RunNodeData, 'run'>;

export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 64;

export interface TypeInfo {
  title: string;
  plugin: string;
  icon?: string;
}

/**
 * A step type's icon as its plugin declares it (`icon` on the step type): a short glyph (an emoji)
 * or an image as a `data:image/…` URI. Anything else (a remote URL, a long text) is not shown: a node
 * then keeps its two-letter plugin code.
 */
export function iconOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const v = raw.trim();
  if (/^data:image\/(png|gif|webp|jpeg|svg\+xml)[;,]/i.test(v)) return v;
  const glyphs = [...new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(v)];
  return v && glyphs.length <= 2 && !/^[\x20-\x7e]+$/.test(v) ? v : undefined;
}

/** Arrowheads at the step that needs the other: which way a dependency goes, at a glance. */
export const EDGE_MARKER = { type: MarkerType.ArrowClosed, width: 18, height: 18 } as const;

export function nodeKindOf(uses: string): 'step' | 'gate' | 'workflow' {
  if (uses === 'core/approval') return 'gate';
  return isSubWorkflow(uses) ? 'workflow' : 'step';
}

/** The item-count badge of a fan-out step: `×3` for a literal list, `for each` for an expression. */
export function fanBadge(step: Pick<StepDefinition, 'for_each'>): string | null {
  const f = fanOutOf(step);
  return f === null ? null : f === 'expression' ? 'for each' : `×${f}`;
}

export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

export function edgesOf(def: WorkflowDefinition, animated?: (source: string, target: string) => boolean): Edge[] {
  const steps = allSteps(def);
  const ids = new Set(steps.map((s) => s.id));
  const edges: Edge[] = [];
  for (const s of steps) {
    for (const n of s.needs ?? []) {
      if (!ids.has(n)) continue;
      edges.push({ id: edgeId(n, s.id), source: n, target: s.id, animated: animated?.(n, s.id) ?? false, markerEnd: EDGE_MARKER });
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
  const finallyIds = new Set(finallyOf(def).map((s) => s.id));
  // A finally step without a position (typed into the YAML view) goes in a row below the graph.
  let laneTop = 0;
  if (finallyOf(def).some((s) => !positions[s.id])) {
    def.spec.steps.forEach((s, j) => { laneTop = Math.max(laneTop, (positions[s.id] ?? fallbackPosition(j)).y + NODE_HEIGHT + 110); });
  }
  const mainCount = def.spec.steps.length;
  return allSteps(def).map((step, i) => {
    const info = types.get(step.uses);
    const sub = isSubWorkflow(step.uses);
    return {
      id: step.id,
      type: nodeKindOf(step.uses),
      position: positions[step.id] ?? (i < mainCount ? fallbackPosition(i) : { x: (i - mainCount) * (NODE_WIDTH + 60), y: laneTop }),
      selected: selected.has(step.id),
      data: {
        step,
        title: sub ? `Sub-workflow ${step.uses.slice('workflow/'.length)}` : info?.title ?? step.uses,
        plugin: info?.plugin ?? step.uses.split('/')[0],
        icon: info?.icon,
        errors: errorsByStep.get(step.id) ?? [],
        // A sub-workflow names a stored workflow, not a plugin's step type.
        unknownType: types.size > 0 && !info && !sub,
        vertical,
        lane: finallyIds.has(step.id) ? 'finally' : 'main',
      },
    };
  });
}

/** Whether every step has a stored position; if not, the designer lays the graph out on open. */
export function needsLayout(def: WorkflowDefinition): boolean {
  const positions = positionsOf(def);
  return allSteps(def).some((s) => !positions[s.id]);
}

/** The band the finally steps sit in, in flow coordinates. */
export interface LaneBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const LANE_HEADER = 30;
const LANE_PAD = 24;
const LANE_GAP = 56;

/**
 * The finally lane: around its steps, as wide as the whole graph, below the main steps when it is
 * empty (so there is a place to drop the first one). O(steps).
 */
export function laneBoxOf(main: Position[], fin: Position[]): LaneBox {
  const box = (ps: Position[]) => ps.reduce((b, p) => ({
    x0: Math.min(b.x0, p.x), y0: Math.min(b.y0, p.y), x1: Math.max(b.x1, p.x + NODE_WIDTH), y1: Math.max(b.y1, p.y + NODE_HEIGHT),
  }), { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity });
  const m = main.length ? box(main) : { x0: 0, y0: 0, x1: NODE_WIDTH, y1: 0 };
  if (!fin.length) {
    const width = Math.max(m.x1 - m.x0 + 2 * LANE_PAD, 2 * NODE_WIDTH + 2 * LANE_PAD);
    return { x: m.x0 - LANE_PAD, y: m.y1 + LANE_GAP, width, height: LANE_HEADER + NODE_HEIGHT + 2 * LANE_PAD };
  }
  const f = box(fin);
  const x = Math.min(m.x0, f.x0) - LANE_PAD;
  const y = f.y0 - LANE_HEADER - LANE_PAD;
  return { x, y, width: Math.max(m.x1, f.x1) + LANE_PAD - x, height: f.y1 + LANE_PAD - y };
}

export function insideLane(box: LaneBox, p: Position): boolean {
  return p.x >= box.x && p.x <= box.x + box.width && p.y >= box.y && p.y <= box.y + box.height;
}

/** Where the first finally step goes when dropped without a position: inside the empty lane. */
export function laneSlot(box: LaneBox): Position {
  return { x: box.x + LANE_PAD, y: box.y + LANE_HEADER + LANE_PAD };
}

function sameNode(a: DesignNode, b: DesignNode): boolean {
  return a.type === b.type && a.className === b.className && a.position.x === b.position.x && a.position.y === b.position.y && !!a.selected === !!b.selected
    && a.data.step === b.data.step && a.data.lane === b.data.lane && a.data.title === b.data.title && a.data.plugin === b.data.plugin && a.data.icon === b.data.icon
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

/** Steps above which a canvas renders only the nodes in view (React Flow's onlyRenderVisibleElements). */
export const LARGE_GRAPH = 500;
