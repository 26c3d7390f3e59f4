import type { PlanItem } from '../api/types';
import { forgeNotesOf } from '../lib/markdown';
import { Markdown } from './Markdown';

function DiffLines({ diff }: { diff: string }) {
  return (
    <pre className="diff">
      {diff.replace(/\n$/, '').split('\n').map((line, i) => {
        const cls = line.startsWith('+++') || line.startsWith('---') ? 'diff-file'
          : line.startsWith('+') ? 'diff-add' : line.startsWith('-') ? 'diff-del' : line.startsWith('@@') ? 'diff-hunk' : '';
        // One block per line (no inline newline): a coloured line spans the whole width, never wraps.
        return <span key={i} className={`diff-line ${cls}`}>{line || ' '}</span>;
      })}
    </pre>
  );
}

/** A step's dry-run plan: what it would do, with unified diffs coloured. */
export function PlanView({ plan }: { plan: PlanItem[] }) {
  if (!plan.length) return <p className="muted">No changes planned.</p>;
  return (
    <ul className="plan">
      {plan.map((p, i) => (
        <li key={i}>
          <div className="plan-head"><span className="plan-action">{p.action}</span> <code>{p.target}</code></div>
          <PlanDiff diff={p.diff} />
        </li>
      ))}
    </ul>
  );
}

/** A forge request's body holds release notes: its request line as text, the notes as Markdown. */
function PlanDiff({ diff }: { diff: string | undefined }) {
  if (!diff) return null;
  const forge = forgeNotesOf(diff);
  if (!forge) return <DiffLines diff={diff} />;
  return (
    <>
      <DiffLines diff={forge.head} />
      <details className="plan-notes" open>
        <summary>Release notes</summary>
        <Markdown source={forge.notes} label="Release notes" />
      </details>
    </>
  );
}
