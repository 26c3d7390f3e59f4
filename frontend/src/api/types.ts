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
/** A child run's parent: the run and the (sub-workflow) step that started it. */
export type RunParent = Schemas['RunParentPublic'];
/** How a run was started (`run.trigger`). */
export type RunTrigger = Schemas['RunTriggerPublic'];
export type TriggerKind = Schemas['TriggerKind'];
/** A trigger's live state (GET /workflows/{name}/triggers). */
export type TriggerStatus = Schemas['TriggerPublic'];

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
  /** Fan-out: an expression evaluating to a list, or a literal list; one instance per element. */
  for_each?: string | unknown[];
  max_parallel?: number;
  fail_fast?: boolean;
  /** How to undo the step when the run fails after it succeeded: a step of its own, run in the unwind. */
  compensate?: CompensateDefinition;
  [extra: string]: unknown;
}

export interface CompensateDefinition {
  uses: string;
  with?: Record<string, unknown>;
  retry?: RetryPolicy;
  timeout?: string;
}

/** Where a step sits: the main graph, or `spec.finally` (runs after every main step is terminal). */
export type Lane = 'main' | 'finally';

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
    concurrency?: ConcurrencySpec;
    /** name → value (strings may hold `${{ }}`), evaluated when the run ends. */
    outputs?: Record<string, unknown>;
    finally?: StepDefinition[];
    /** Schedules, webhooks and completion triggers (lib/triggers.ts reads and edits them). */
    triggers?: unknown[];
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

// --- Concurrency keys and approval gates -------------------------------------------------------
// The run's `concurrency` and the approve body come from the generated schema; a gate's outputs
// are free-form JSON on the wire, so their shape (docs/engine.md) is declared here and read
// defensively (lib/queue.ts, lib/approval.ts).

/** `spec.concurrency` of a definition: runs with the same rendered key share `limit` slots. */
export type OnConflict = 'queue' | 'cancel_pending' | 'fail';
export const ON_CONFLICT_VALUES: readonly OnConflict[] = ['queue', 'cancel_pending', 'fail'];

export interface ConcurrencySpec {
  key: string;
  limit?: number;
  on_conflict?: OnConflict;
}

/**
 * A keyed run's place (run field `concurrency`, null for an unkeyed workflow): `position` 1-based
 * while waiting, 0 once it holds a slot. Read with lib/queue.ts `concurrencyOf`.
 */
export type RunConcurrency = Schemas['ConcurrencyPublic'];

export interface Approval {
  by: string;
  at: string | null;
  comment: string;
}

export interface ApprovalPolicy {
  approvers: { roles: string[]; names: string[] };
  required: number;
  allow_self_approval: boolean;
  pin_plan: boolean;
  timeout: string | null;
  on_timeout: 'reject' | 'approve';
  inputs: JSONSchema7 | null;
}

/** What an approval gate's outputs hold while it waits (`step.outputs` of a `core/approval`). */
export interface GateOutputs {
  plan: unknown[];
  plan_digest: string | null;
  approvals: Approval[];
  policy: ApprovalPolicy | null;
  started_by: string | null;
  deadline: string | null;
}

/** The body of POST /runs/{id}/steps/{step}/approve (the generated `Decision` has `comment` only). */
export type ApproveBody = Schemas['Decision'];
/** Free JSON the API accepts (run parameters, approval inputs): no control or bidi character anywhere. */
export type SafeJsonObject = Schemas['SafeJsonObject'];
/** The workflow definition as the OpenAPI document publishes it (the workflow JSON Schema). */
export type WorkflowDefinitionBody = Schemas['WorkflowDefinition'];

/** The designer's values at the API boundary: they are JSON already, and the gateway refuses what its
 * schema does not allow with a 422 pointing at the field (shown like any validation error). */
export function asSafeJson(value: Record<string, unknown>): SafeJsonObject {
  return value as SafeJsonObject;
}

/** The designer's definition at the API boundary: its own type is looser (extra fields the designer
 * keeps), the gateway checks it against the published schema and answers 422 with pointers. */
export function asDefinitionBody(definition: WorkflowDefinition): WorkflowDefinitionBody {
  return definition as unknown as WorkflowDefinitionBody;
}
