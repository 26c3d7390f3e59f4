// Maps JSON pointers from /workflows/validate onto what the designer shows: a node and a field.
import type { ValidationIssue, WorkflowDefinition } from '../api/types';

export function parsePointer(pointer: string): string[] {
  if (!pointer || pointer === '/') return [];
  return pointer
    .replace(/^#/, '')
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export type StepSection = 'step' | 'id' | 'uses' | 'with' | 'needs' | 'if' | 'optional' | 'retry' | 'timeout'
  | 'for_each' | 'max_parallel' | 'fail_fast' | 'compensate' | 'other';

export interface StepIssue {
  pointer: string;
  message: string;
  section: StepSection;
  /** Path inside the section, e.g. ['repo'] for /spec/steps/2/with/repo. */
  path: string[];
}

export interface MappedIssues {
  byStep: Map<string, StepIssue[]>;
  /** Issues that are not about one step (metadata, parameters, the document itself). */
  general: ValidationIssue[];
}

const SECTIONS = new Set(['id', 'uses', 'with', 'needs', 'if', 'optional', 'retry', 'timeout', 'for_each', 'max_parallel', 'fail_fast',
  'compensate']);

/** A pointer into a step of either lane: /spec/steps/N/… or /spec/finally/N/…. */
export function locate(pointer: string): { lane: 'steps' | 'finally'; stepIndex: number; section: StepSection; path: string[] } | null {
  const t = parsePointer(pointer);
  if (t[0] !== 'spec' || (t[1] !== 'steps' && t[1] !== 'finally') || t.length < 3 || !/^\d+$/.test(t[2])) return null;
  const lane = t[1];
  const stepIndex = Number(t[2]);
  if (t.length === 3) return { lane, stepIndex, section: 'step', path: [] };
  const section = (SECTIONS.has(t[3]) ? t[3] : 'other') as StepSection;
  return { lane, stepIndex, section, path: t.slice(4) };
}

export function mapIssues(def: WorkflowDefinition, issues: ValidationIssue[]): MappedIssues {
  const byStep = new Map<string, StepIssue[]>();
  const general: ValidationIssue[] = [];
  for (const issue of issues) {
    const loc = locate(issue.pointer);
    const step = loc ? (loc.lane === 'steps' ? def.spec.steps : def.spec.finally ?? [])[loc.stepIndex] : undefined;
    if (!loc || !step) {
      general.push(issue);
      continue;
    }
    const list = byStep.get(step.id) ?? [];
    list.push({ pointer: issue.pointer, message: issue.message, section: loc.section, path: loc.path });
    byStep.set(step.id, list);
  }
  return { byStep, general };
}

export interface ErrorSchema {
  __errors?: string[];
  [field: string]: ErrorSchema | string[] | undefined;
}

/** rjsf `extraErrors` for the step's `with` form: {repo: {__errors: ['...']}}; with `section`
 *  'compensate' and `under` ['with'], for its compensation's `with` form. */
export function toErrorSchema(issues: StepIssue[], section: StepSection = 'with', under: string[] = []): ErrorSchema {
  const root: ErrorSchema = {};
  for (const issue of issues) {
    if (issue.section !== section || under.some((key, i) => issue.path[i] !== key)) continue;
    let node = root;
    for (const key of issue.path.slice(under.length)) {
      node[key] = (node[key] as ErrorSchema | undefined) ?? {};
      node = node[key] as ErrorSchema;
    }
    node.__errors = [...(node.__errors ?? []), issue.message];
  }
  return root;
}

export function messagesBySection(issues: StepIssue[], section: StepSection): string[] {
  return issues.filter((i) => i.section === section).map((i) => i.message);
}
