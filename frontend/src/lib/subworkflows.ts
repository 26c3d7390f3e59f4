// Stored workflows offered in the palette as `workflow/<name>` steps: a sub-workflow starts a child
// run of that workflow; its config is `{version?, parameters?}` (docs/engine.md).
import type { StepType, Workflow } from '../api/types';

export const SUB_WORKFLOW_PLUGIN = 'workflow';

export function subWorkflowTypes(workflows: Pick<Workflow, 'name' | 'definition'>[], self: string, known: StepType[] = []): StepType[] {
  const taken = new Set(known.map((t) => t.type));
  return workflows
    .filter((w) => w.name !== self && !taken.has(`workflow/${w.name}`))
    .map((w) => {
      const md = (w.definition as { metadata?: { description?: unknown } } | undefined)?.metadata;
      return {
        type: `workflow/${w.name}`,
        plugin: SUB_WORKFLOW_PLUGIN,
        title: w.name,
        description: typeof md?.description === 'string' && md.description ? md.description : `Runs ${w.name} as a child run`,
        config_schema: { type: 'object', properties: { version: { type: 'integer', minimum: 1 }, parameters: { type: 'object' } } },
        outputs_schema: {},
        effects: 'remote' as const, // as the engine lists it: the child run decides for its own steps
      };
    });
}
