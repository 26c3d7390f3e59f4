// Domain shapes of the gateway API (ARCHITECTURE.md §2–§4). The generated schema.d.ts types the
// transport; these are the names the UI code speaks in.
import type { JSONSchema7 } from './jsonschema';

export type { JSONSchema7 };

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

export interface Workflow {
  name: string;
  version: number;
  definition: WorkflowDefinition;
  created_at: string;
  created_by: string;
}

export interface StepType {
  type: string;
  plugin: string;
  title: string;
  description: string;
  config_schema: JSONSchema7;
  outputs_schema: JSONSchema7;
}

export interface Template {
  name: string;
  plugin: string;
  workflow_type: string;
  title: string;
  description: string;
  definition: WorkflowDefinition;
}

export interface ValidationIssue {
  pointer: string;
  message: string;
}

export interface ValidationResult {
  valid: boolean;
  errors: ValidationIssue[];
}

export const RUN_STATES = [
  'queued',
  'running',
  'paused',
  'succeeded',
  'succeeded_with_warnings',
  'failed',
  'cancelled',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const STEP_STATES = [
  'pending',
  'running',
  'retrying',
  'awaiting_approval',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const;
export type StepState = (typeof STEP_STATES)[number];

export interface PlanItem {
  action: string;
  target: string;
  diff?: string;
}

export interface StepRun {
  id: string;
  uses: string;
  state: StepState;
  attempt: number;
  outputs: Record<string, unknown> | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface Run {
  id: string;
  workflow: string;
  version: number;
  state: RunState;
  parameters: Record<string, unknown>;
  dry_run?: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: StepRun[];
}

export type EventType =
  | 'run.queued'
  | 'run.started'
  | 'run.paused'
  | 'run.resumed'
  | 'run.succeeded'
  | 'run.succeeded_with_warnings'
  | 'run.failed'
  | 'run.cancelled'
  | 'step.started'
  | 'step.log'
  | 'step.retrying'
  | 'step.awaiting_approval'
  | 'step.succeeded'
  | 'step.failed'
  | 'step.skipped'
  | 'step.cancelled';

export interface RunEvent {
  seq: number;
  run_id: string;
  type: EventType;
  step_id: string | null;
  attempt: number | null;
  at: string;
  data: Record<string, unknown> | null;
}

export interface Page<T> {
  items: T[];
  total: number;
}

export interface LogLine {
  at?: string;
  attempt?: number;
  level?: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: ValidationIssue[];
}
