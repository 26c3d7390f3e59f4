// The approval gate as its approver sees it: the gate step's outputs (plan, plan_digest, approvals,
// policy, started_by, deadline — docs/contracts.md) read defensively, who may still decide, and the
// 409/422 problems of POST .../approve turned into what the dialog shows. Pure, unit-tested.
import type { Approval, ApprovalPolicy, GateOutputs, JSONSchema7, ValidationIssue } from '../api/types';
import type { ErrorSchema } from './pointer';
import { parsePointer } from './pointer';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function approvalsOf(v: unknown): Approval[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isRecord).filter((a) => typeof a.by === 'string')
    .map((a) => ({ by: a.by as string, at: str(a.at), comment: typeof a.comment === 'string' ? a.comment : '' }));
}

function policyOf(v: unknown): ApprovalPolicy | null {
  if (!isRecord(v)) return null;
  const approvers = isRecord(v.approvers) ? v.approvers : {};
  return {
    approvers: { roles: strings(approvers.roles), names: strings(approvers.names) },
    required: typeof v.required === 'number' && v.required >= 1 ? v.required : 1,
    allow_self_approval: v.allow_self_approval === true,
    pin_plan: v.pin_plan !== false,
    timeout: str(v.timeout),
    on_timeout: v.on_timeout === 'approve' ? 'approve' : 'reject',
    inputs: isRecord(v.inputs) ? (v.inputs as JSONSchema7) : null,
  };
}

/** The gate's outputs while it waits; fields the gateway does not send (yet) come back empty. */
export function gateOutputsOf(outputs: Record<string, unknown> | null | undefined): GateOutputs {
  const o = outputs ?? {};
  return {
    plan: Array.isArray(o.plan) ? o.plan : [],
    plan_digest: str(o.plan_digest),
    approvals: approvalsOf(o.approvals),
    policy: policyOf(o.policy),
    started_by: str(o.started_by),
    deadline: str(o.deadline),
  };
}

export interface Deciders {
  /** How many approvals are still needed. */
  remaining: number;
  required: number;
  /** Roles whose members may still approve (empty with no names: any operator). */
  roles: string[];
  /** Named people who may still approve: the policy's names minus those who approved (and the starter, when self-approval is off). */
  names: string[];
  /** The current user started the run and the policy forbids approving one's own run. */
  selfBlocked: boolean;
  /** The current user has approved already (a second approval is refused). */
  alreadyApproved: boolean;
}

/** Who may still decide the gate, and whether `me` (null when unknown) may approve. */
export function deciders(gate: GateOutputs, me: string | null): Deciders {
  const policy = gate.policy;
  const required = policy?.required ?? 1;
  const approved = new Set(gate.approvals.map((a) => a.by));
  const selfForbidden = !!policy && !policy.allow_self_approval && !!gate.started_by;
  const names = (policy?.approvers.names ?? []).filter((n) => !approved.has(n) && !(selfForbidden && n === gate.started_by));
  return {
    remaining: Math.max(0, required - approved.size),
    required,
    roles: policy?.approvers.roles ?? [],
    names,
    selfBlocked: selfForbidden && me !== null && me === gate.started_by,
    alreadyApproved: me !== null && approved.has(me),
  };
}

/** One line naming who may still approve, e.g. "role operator, or alice, bob". */
export function decidersText(d: Deciders): string {
  const parts: string[] = [];
  if (d.roles.length) parts.push(`${d.roles.length > 1 ? 'roles' : 'role'} ${d.roles.join(', ')}`);
  if (d.names.length) parts.push(d.names.join(', '));
  if (!parts.length) return 'anyone with the operator role';
  return parts.join(', or ');
}

/** The new plan of a 409 plan-changed problem (extensions `plan_digest` and `plan`), or null. */
export function planChangeOf(problem: unknown): { plan_digest: string; plan: unknown[] } | null {
  if (!isRecord(problem) || typeof problem.plan_digest !== 'string') return null;
  return { plan_digest: problem.plan_digest, plan: Array.isArray(problem.plan) ? problem.plan : [] };
}

/**
 * rjsf extraErrors for the inputs form from a 422's issues: a pointer under `/inputs` lands on its
 * field (`/inputs/notes_override` → {notes_override: {__errors: [...]}}); `/inputs` itself on the form.
 * Issues outside `/inputs` are returned as `other`, for the dialog's error box.
 */
export function inputErrors(issues: ValidationIssue[]): { errors: ErrorSchema; other: ValidationIssue[] } {
  const errors: ErrorSchema = {};
  const other: ValidationIssue[] = [];
  for (const issue of issues) {
    const path = parsePointer(issue.pointer);
    if (path[0] !== 'inputs') {
      other.push(issue);
      continue;
    }
    let node = errors;
    for (const key of path.slice(1)) {
      node[key] = (node[key] as ErrorSchema | undefined) ?? {};
      node = node[key] as ErrorSchema;
    }
    node.__errors = [...(node.__errors ?? []), issue.message];
  }
  return { errors, other };
}

/** The body of an approval: always the digest shown (when there is one) and the inputs given. */
export function approveBody(comment: string, digest: string | null, inputs: Record<string, unknown> | null) {
  return {
    comment,
    ...(digest ? { plan_digest: digest } : {}),
    ...(inputs ? { inputs } : {}),
  };
}

/** "in 3h 5m" / "2m ago" for the gate's deadline. */
export function deadlineText(deadline: string | null, now = Date.now()): string | null {
  if (!deadline) return null;
  const t = Date.parse(deadline);
  if (!Number.isFinite(t)) return deadline;
  const s = Math.round((t - now) / 1000);
  const abs = Math.abs(s);
  const minutes = Math.round(abs / 60);
  const span = abs < 60 ? `${abs}s` : minutes < 60 ? `${minutes}m`
    : abs < 86400 ? `${Math.floor(minutes / 60)}h ${minutes % 60}m` : `${Math.round(abs / 86400)}d`;
  return s >= 0 ? `in ${span}` : `${span} ago`;
}
