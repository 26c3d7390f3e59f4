import { useState } from 'react';
import { decide } from '../api/hooks';
import type { StepPlan } from '../lib/runState';
import { ErrorBox, Modal } from './common';
import { PlanView } from './PlanView';

/** The approver reads exactly what the steps after the gate will do before anything is pushed. */
export function ApprovalDialog({ runId, stepId, message, plans, onClose, onDone }: {
  runId: string; stepId: string; message?: string; plans: StepPlan[]; onClose: () => void; onDone: () => void;
}) {
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const act = async (approve: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await decide(runId, stepId, approve, comment);
      onDone();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title={`Approval: ${stepId}`} onClose={onClose} wide>
      <div className="approval" data-testid="approval-dialog">
        {message && <p className="approval-message">{message}</p>}
        <h3>What happens after approval</h3>
        {plans.length === 0 && <p className="muted">The steps after this gate published no plan. Run a dry run first to see one.</p>}
        {plans.map((p) => (
          <section key={p.step} className="approval-plan">
            <h4>{p.step}</h4>
            <PlanView plan={p.plan} />
          </section>
        ))}
        <label htmlFor="approval-comment">Comment</label>
        <textarea id="approval-comment" rows={3} value={comment} onChange={(e) => setComment(e.target.value)} placeholder="Why you approve or reject" />
        <ErrorBox error={error} />
        <div className="row gap end">
          <button className="btn danger" disabled={busy} onClick={() => act(false)}>Reject</button>
          <button className="btn primary" disabled={busy} onClick={() => act(true)} data-testid="approve">Approve</button>
        </div>
      </div>
    </Modal>
  );
}
