import { useEffect, useState } from 'react';
import { approve, reject } from '../api/hooks';
import { ApiError } from '../api/problem';
import type { Run } from '../api/types';
import { approveBody, deadlineText, deciders, decidersText, gateOutputsOf, inputErrors, planChangeOf } from '../lib/approval';
import type { ErrorSchema } from '../lib/pointer';
import { plansOf, type StepPlan } from '../lib/runState';
import { ErrorBox, Modal } from './common';
import { PlanView } from './PlanView';
import { SchemaForm } from './SchemaForm';

/** The plan the approver is shown, and its digest: what an approval vouches for. */
interface ShownPlan {
  digest: string;
  plan: unknown[];
}

/**
 * The approver reads exactly what the steps after the gate will do before anything is pushed, sees
 * who approved so far and who may still decide, fills the gate's inputs, and approves that plan:
 * the approval always carries the digest of the plan shown, so a plan that changed meanwhile is
 * refused (409) and shown instead of approved blindly.
 */
/** The gate's `would_undo`: the succeeded steps a failure after it would undo, newest first. */
export function wouldUndoOf(outputs: Record<string, unknown> | null | undefined): { step: string; uses: string }[] {
  const raw = outputs?.would_undo;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((u: unknown) => (typeof u === 'object' && u !== null && 'step' in u && typeof u.step === 'string'
    && 'uses' in u && typeof u.uses === 'string' ? [{ step: u.step, uses: u.uses }] : []));
}

/** How many more the gate would undo than it names (`would_undo_more`: a for_each step's items count one by one). */
export function wouldUndoMoreOf(outputs: Record<string, unknown> | null | undefined): number {
  const more = outputs?.would_undo_more;
  return typeof more === 'number' && Number.isInteger(more) && more > 0 ? more : 0;
}

export function ApprovalDialog({ runId, stepId, message, outputs, plans, me, onClose, onDone }: {
  runId: string;
  stepId: string;
  message?: string;
  /** The gate step's stored outputs (plan, plan_digest, approvals, policy, started_by, deadline). */
  outputs: Record<string, unknown> | null | undefined;
  /** Plans known from the gate's event or the steps' outputs, for a gate whose outputs carry none. */
  plans: StepPlan[];
  /** The signed-in user's name, when the designer knows it. */
  me: string | null;
  onClose: () => void;
  onDone: (run: Run) => void;
}) {
  const gate = gateOutputsOf(outputs);
  const [shown, setShown] = useState<ShownPlan | null>(gate.plan_digest ? { digest: gate.plan_digest, plan: gate.plan } : null);
  const [planChanged, setPlanChanged] = useState(false);
  const [comment, setComment] = useState('');
  const [inputs, setInputs] = useState<Record<string, unknown>>({});
  const [fieldErrors, setFieldErrors] = useState<ErrorSchema>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // The outputs may arrive after the dialog opened (fetched when the gate opened): adopt the first
  // plan seen, never silently replace one the approver is reading.
  useEffect(() => {
    if (!shown && gate.plan_digest) setShown({ digest: gate.plan_digest, plan: gate.plan });
  }, [shown, gate.plan_digest]); // eslint-disable-line react-hooks/exhaustive-deps

  const policy = gate.policy;
  const who = deciders(gate, me);
  const inputsSchema = policy?.inputs ?? null;
  const shownPlans = shown && shown.plan.length ? plansOf(shown.plan, stepId) ?? [] : plans;
  const wouldUndo = wouldUndoOf(outputs);
  const deadline = deadlineText(gate.deadline);
  const blockedReason = who.selfBlocked ? 'You started this run — you cannot approve it.'
    : who.alreadyApproved ? 'You approved this gate already; it needs someone else now.' : null;

  const act = async (approving: boolean) => {
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      const run = approving
        ? await approve(runId, stepId, approveBody(comment, shown?.digest ?? null, inputsSchema ? inputs : null))
        : await reject(runId, stepId, comment);
      onDone(run);
    } catch (err) {
      const change = err instanceof ApiError && err.status === 409 ? planChangeOf(err.problem) : null;
      if (change) {
        // Approvals given for the old plan are void: show the new one and let the approver decide again.
        setShown({ digest: change.plan_digest, plan: change.plan });
        setPlanChanged(true);
      } else if (err instanceof ApiError && err.status === 422) {
        const { errors, other } = inputErrors(err.issues);
        setFieldErrors(errors);
        setError(other.length || !Object.keys(errors).length ? err : new ApiError(422, { ...err.problem, errors: [] }));
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal title={`Approval: ${stepId}`} onClose={onClose} wide>
      <div className="approval" data-testid="approval-dialog">
        {message && <p className="approval-message">{message}</p>}
        {planChanged && (
          <div className="banner-plan-changed" role="alert" data-testid="plan-changed">
            <strong>The plan changed since you opened it.</strong> Read the new plan below; approving now approves this new plan.
          </div>
        )}
        <h3>What happens after approval</h3>
        {shownPlans.length === 0 && (shown
          ? <p className="muted">The steps after this gate plan no changes.</p>
          : <p className="muted">The steps after this gate published no plan. Run a dry run first to see one.</p>)}
        {shownPlans.map((p) => (
          <section key={p.step} className="approval-plan">
            <h4>{p.step}</h4>
            <PlanView plan={p.plan} />
          </section>
        ))}
        {wouldUndo.length > 0 && (
          <section className="approval-undo" data-testid="would-undo">
            <h3>If a later step fails</h3>
            <p className="muted small-text">The run unwinds: these steps are undone by their compensation, newest first.</p>
            <ul>
              {wouldUndo.map((u) => <li key={u.step}><strong>{u.step}</strong> <span className="muted">↺ {u.uses}</span></li>)}
              {wouldUndoMoreOf(outputs) > 0 && <li className="muted" data-testid="would-undo-more">and {wouldUndoMoreOf(outputs)} more</li>}
            </ul>
          </section>
        )}
        {shown && <p className="muted small-text">Plan digest <code data-testid="plan-digest" title={shown.digest}>{shown.digest.slice(0, 12)}</code></p>}

        <section className="approval-policy" aria-label="Approvals" data-testid="approval-policy">
          <h3>Approvals <span className="muted small-text" data-testid="approval-count">{gate.approvals.length} of {who.required}</span></h3>
          {gate.approvals.length > 0 ? (
            <ul className="approvals" data-testid="approvals">
              {gate.approvals.map((a) => (
                <li key={a.by}>
                  <span className="approved-mark" aria-hidden>✓</span> <strong>{a.by}</strong>
                  {a.at && <span className="muted"> · {new Date(a.at).toLocaleString()}</span>}
                  {a.comment && <span className="muted"> — “{a.comment}”</span>}
                </li>
              ))}
            </ul>
          ) : <p className="muted">Nobody has approved yet.</p>}
          {who.remaining > 0 && (
            <p data-testid="deciders">
              {who.remaining === 1 ? 'One more approval' : `${who.remaining} more approvals`} needed, from {decidersText(who)}.
              {policy && !policy.allow_self_approval && gate.started_by && <span className="muted"> Not from {gate.started_by}, who started the run.</span>}
            </p>
          )}
          {gate.deadline && (
            <p data-testid="deadline">
              Deadline {new Date(gate.deadline).toLocaleString()} ({deadline}); then the gate is {policy?.on_timeout === 'approve' ? 'approved' : 'rejected'} automatically.
            </p>
          )}
          {blockedReason && <p className="approval-blocked" role="note" data-testid="self-approval">{blockedReason}</p>}
        </section>

        {inputsSchema && (
          <section className="approval-inputs" aria-label="Inputs" data-testid="approval-inputs">
            <h3>Inputs</h3>
            <SchemaForm idPrefix="approval-inputs" schema={{ ...inputsSchema, title: undefined }} formData={inputs} fillDefaults
              onChange={(data) => {
                setInputs(data);
                // The gateway's verdict was on the values sent; it says nothing about the new ones.
                if (Object.keys(fieldErrors).length) setFieldErrors({});
              }} extraErrors={fieldErrors as never} />
          </section>
        )}

        <label htmlFor="approval-comment">Comment</label>
        <textarea id="approval-comment" rows={3} value={comment} onChange={(e) => setComment(e.target.value)} placeholder="Why you approve or reject" />
        <ErrorBox error={error} />
        <div className="row gap end">
          <button className="btn danger" disabled={busy} onClick={() => act(false)}>Reject</button>
          <button className="btn primary" disabled={busy || !!blockedReason} onClick={() => act(true)} data-testid="approve">
            {planChanged ? 'Approve the new plan' : 'Approve'}
          </button>
        </div>
      </div>
    </Modal>
  );
}
