import type { RunTrigger } from '../api/types';
import { TRIGGER_ICON, triggerLabel } from '../lib/triggers';

/** How a run was started: the kind's icon and label, and for a completion trigger the run that ended. */
export function TriggerBadge({ trigger }: { trigger: RunTrigger | null | undefined }) {
  const l = triggerLabel(trigger);
  const at = trigger?.at ? ` at ${new Date(trigger.at).toLocaleString()}` : '';
  return (
    <span className={`trigger-badge trigger-${l.kind}`} data-testid="run-trigger" title={`${l.kind}${at}${trigger?.delivery ? ` · delivery ${trigger.delivery}` : ''}`}>
      <span aria-hidden>{TRIGGER_ICON[l.kind]}</span> {l.text}
      {l.upstreamRunId && <> <a href={`#/runs/${encodeURIComponent(l.upstreamRunId)}`} onClick={(e) => e.stopPropagation()}><code>{l.upstreamRunId.slice(0, 8)}</code></a></>}
    </span>
  );
}
