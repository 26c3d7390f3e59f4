// The names the UI code speaks in. Every API shape is an alias of the generated schema.d.ts (run
// `npm run gen:api` after changing the gateway), so a new state or field arrives by regeneration
// alone. What is declared by hand below is not an OpenAPI shape: the workflow definition document
// (its JSON Schema is served at /schemas/workflow) and conventions inside free-form outputs.
import type { components } from './schema';
import type { JSONSchema7 } from './jsonschema';

export type { JSONSchema7 };

type Schemas = components['schemas'];

// --- API shapes (generated) ------------------------------------------------------------------
export type RunState = Schemas['RunState'];
export type StepState = Schemas['StepState'];
export type EventType = Schemas['EventType'];
export type Role = Schemas['Role'];
export type Run = Schemas['RunPublic'];
export type StepRun = Schemas['StepRunPublic'];
export type RunEvent = Schemas['EventPublic'];
export type LogLine = Schemas['LogLinePublic'];
export type StepType = Schemas['StepTypePublic'];
export type Template = Schemas['TemplatePublic'];
export type Workflow = Schemas['WorkflowPublic'];
export type ValidationIssue = Schemas['ValidationErrorPublic'];
export type ValidationResult = Schemas['ValidationPublic'];
export type Problem = Schemas['Problem'];
export type RunPage = Schemas['Page_RunPublic_'];

// --- The workflow definition document (ARCHITECTURE.md §2), not an OpenAPI shape -----------------
export interface RetryPolicy {
  max_attempts?: number;
  backoff?: 'fixed' | 'exponential' | string;
  initial_interval?: string;
  max_interval?: string;
}

export interface StepDefinition {
  id: string;
  uses: string;
  needs?: string[];
  with?: Record<string, unknown>;
  if?: string;
  optional?: boolean;
  retry?: RetryPolicy;
  timeout?: string;
  [extra: string]: unknown;
}

export interface Position {
  x: number;
  y: number;
}

export interface WorkflowDefinition {
  apiVersion: string;
  kind: string;
  metadata: { name: string; type?: string; description?: string; [extra: string]: unknown };
  spec: {
    parameters?: JSONSchema7;
    steps: StepDefinition[];
    [extra: string]: unknown;
  };
  ui?: { positions?: Record<string, Position>; [extra: string]: unknown };
  [extra: string]: unknown;
}

/** One planned change in a step's `outputs.plan` (a convention of step types, not of the API). */
export interface PlanItem {
  action: string;
  target: string;
  diff?: string;
}
