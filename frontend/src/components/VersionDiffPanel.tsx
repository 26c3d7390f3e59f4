import type { VersionDiff } from '../lib/versionDiff';
import { showValue } from '../lib/versionDiff';

const LABEL = { added: 'added', removed: 'removed', changed: 'changed', same: 'same' } as const;

/** The side panel while two versions are compared: each changed step's fields, old → new, and the workflow's own settings. */
export function VersionDiffPanel({ diff, from, to, onSelect }: { diff: VersionDiff; from: number; to: number; onSelect: (id: string) => void }) {
  const touched = diff.steps.filter((s) => s.change !== 'same');
  const edges = diff.edges.filter((e) => e.change !== 'same');
  return (
    <div className="panel-inner" role="group" aria-label={`Changes from version ${from} to ${to}`} data-testid="diff-panel">
      <div className="panel-title"><h2>v{from} → v{to}</h2></div>
      {touched.length === 0 && edges.length === 0 && diff.workflow.length === 0 && <p className="muted">The two versions are the same (only the layout may differ).</p>}
      {touched.length > 0 && (
        <section className="panel-section">
          <h3>Steps</h3>
          <ul className="diff-list">
            {touched.map((s) => (
              <li key={s.id} className={`diff-item diff-${s.change}`} data-testid={`diff-step-${s.id}`}>
                <button className="link" onClick={() => onSelect(s.id)}><code>{s.id}</code></button> <span className={`diff-tag diff-${s.change}`}>{LABEL[s.change]}</span>
                {s.fields.length > 0 && (
                  <table className="diff-fields">
                    <tbody>
                      {s.fields.map((f) => (
                        <tr key={f.field} data-testid={`diff-field-${s.id}-${f.field}`}>
                          <th scope="row"><code>{f.field}</code></th>
                          <td><del>{showValue(f.before)}</del> → <ins>{showValue(f.after)}</ins></td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
      {edges.length > 0 && (
        <section className="panel-section">
          <h3>Dependencies</h3>
          <ul className="diff-list">
            {edges.map((e) => <li key={e.id} data-testid={`diff-edge-${e.id}`}><code>{e.target}</code> needs <code>{e.source}</code> <span className={`diff-tag diff-${e.change}`}>{LABEL[e.change]}</span></li>)}
          </ul>
        </section>
      )}
      {diff.workflow.length > 0 && (
        <section className="panel-section">
          <h3>Workflow settings</h3>
          <table className="diff-fields">
            <tbody>
              {diff.workflow.map((f) => (
                <tr key={f.field}><th scope="row"><code>{f.field}</code></th><td><del>{showValue(f.before)}</del> → <ins>{showValue(f.after)}</ins></td></tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </div>
  );
}
