// A step's `compensate` as the step panel edits it: which step types may undo a step, what picking
// one writes, and the edits of its `with`, timeout and attempts. Every edit is a patch of the step
// (the YAML stays the source of truth: keys the form does not know are kept as they are).
import type { CompensateDefinition, StepDefinition, StepType } from '../api/types';
import { isSubWorkflow } from './definition';

/** What the engine refuses as an undo step (docs/engine.md, Compensation): a gate, a sub-workflow. */
export function canUndoWith(type: string): boolean {
  return type !== 'core/approval' && !isSubWorkflow(type);
}

/** Whether a step may have a compensation at all: not an approval gate (nothing to undo). */
export function canCompensate(step: StepDefinition): boolean {
  return step.uses !== 'core/approval';
}

/** The built-in undo of a step type, offered first in the picker. */
const UNDO_OF: Record<string, string> = {
  'git/tag': 'git/delete-tag',
  'git/commit': 'git/reset-to',
  'forge/release': 'forge/delete-release',
};

/** Step types offered as the undo: the suggested one for this step first, then the palette's order. */
export function undoChoices(types: StepType[], step: StepDefinition): StepType[] {
  const usable = types.filter((t) => canUndoWith(t.type));
  const suggested = UNDO_OF[step.uses];
  return [...usable.filter((t) => t.type === suggested), ...usable.filter((t) => t.type !== suggested)];
}

function properties(type: StepType | undefined): Record<string, unknown> {
  const props = (type?.config_schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ?? {};
}

/** The `with` a freshly picked undo type starts with: the step's own `repo`, and references to the
 *  step's outputs that the undo type's fields are named after (`name`, `sha`, `commit`). */
export function startingWith(undo: StepType | undefined, step: StepDefinition): Record<string, unknown> {
  const fields = properties(undo);
  const own = step.with ?? {};
  const start: Record<string, unknown> = {};
  if ('repo' in fields && own.repo !== undefined) start.repo = own.repo;
  const ref = (output: string) => `\${{ steps.${step.id}.outputs.${output} }}`;
  if (step.uses === 'git/tag' && 'name' in fields) Object.assign(start, { name: ref('name'), ...('sha' in fields ? { sha: ref('sha') } : {}) });
  if (step.uses === 'git/commit' && 'commit' in fields) start.commit = ref('sha');
  if (step.uses === 'forge/release' && 'tag' in fields) start.tag = ref('tag');
  return start;
}

/** The patch that sets the undo step type (`''`: no compensation). The same type keeps everything. */
export function pickUndo(step: StepDefinition, uses: string, type: StepType | undefined): Partial<StepDefinition> {
  if (!uses) return { compensate: undefined };
  const current = step.compensate;
  if (current?.uses === uses) return {};
  const { with: _old, ...rest } = current ?? ({} as Partial<CompensateDefinition>);
  const start = startingWith(type, step);
  return { compensate: { ...rest, uses, ...(Object.keys(start).length ? { with: start } : {}) } };
}

/** Drop the keys a form cleared (undefined or ''), then the object itself when nothing is left. */
function pruned<T extends Record<string, unknown>>(value: T): T | undefined {
  const kept = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== '' && !Number.isNaN(v)));
  return Object.keys(kept).length ? (kept as T) : undefined;
}

/** The patch that changes the compensation's `with`, `timeout` or `retry` (merged into its retry). */
export function editUndo(step: StepDefinition, edit: { with?: Record<string, unknown>; timeout?: string; retry?: Record<string, unknown> }): Partial<StepDefinition> {
  const current = step.compensate;
  if (!current) return {};
  const next: Record<string, unknown> = { ...current };
  if ('with' in edit) next.with = pruned(edit.with ?? {});
  if ('timeout' in edit) next.timeout = edit.timeout || undefined;
  if ('retry' in edit) next.retry = pruned({ ...(current.retry ?? {}), ...edit.retry });
  for (const key of ['with', 'timeout', 'retry']) if (next[key] === undefined) delete next[key];
  return { compensate: next as unknown as CompensateDefinition };
}
