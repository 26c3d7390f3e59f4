import { memo, useState } from 'react';
import type { FanOut } from '../lib/fanout';

// Up to this many items each cell shows its index and is a tab stop; beyond, the cells are small
// squares and keyboard users open an item by its number.
const ROOMY = 60;

/**
 * The items of a fan-out step as a compact grid, one cell per instance coloured by its state
 * (plain buttons, no React Flow nodes: 10,000 items stay cheap), with its progress ("37/100").
 * A click opens the item (its details and logs, as for any step).
 */
export const FanOutGrid = memo(function FanOutGrid({ stepId, fan, selected, onOpen }: {
  stepId: string; fan: FanOut; selected: string | null; onOpen: (instanceId: string) => void;
}) {
  const [goto, setGoto] = useState('');
  const { progress: p, items } = fan;
  const roomy = p.total <= ROOMY;
  const open = () => {
    const n = Number(goto);
    const item = items.find((i) => i.index === n);
    if (item) onOpen(item.id);
  };
  return (
    <div className="fan-out" data-testid={`fan-grid-${stepId}`}>
      <div className="fan-summary">
        <span className="fan-count" data-testid={`fan-count-${stepId}`}>{p.done}/{p.total}</span>
        <span className="muted">items done</span>
        <span className="fan-legend">
          <span><i style={{ background: 'var(--succeeded)' }} />{p.succeeded} succeeded</span>
          {p.failed > 0 && <span><i style={{ background: 'var(--failed)' }} />{p.failed} failed</span>}
          {p.cancelled > 0 && <span><i style={{ background: 'var(--cancelled)' }} />{p.cancelled} cancelled</span>}
          {p.running > 0 && <span><i style={{ background: 'var(--running)' }} />{p.running} running</span>}
          {p.total - p.done - p.running > 0 && <span><i style={{ background: 'var(--pending)' }} />{p.total - p.done - p.running} waiting</span>}
        </span>
      </div>
      <div className={`fan-grid${roomy ? ' roomy' : ''}`} role="group" aria-label={`Items of ${stepId}`}>
        {items.map((it) => (
          <button key={it.id} type="button" className={`fan-cell state-${it.state}${selected === it.id ? ' selected' : ''}`}
            data-testid={`fan-cell-${it.index}`} data-state={it.state} tabIndex={roomy ? 0 : -1}
            title={`${it.id}: ${it.state.replace(/_/g, ' ')}`} aria-label={`${it.id}: ${it.state.replace(/_/g, ' ')}`}
            onClick={() => onOpen(it.id)}>
            {roomy ? it.index : ''}
          </button>
        ))}
      </div>
      {!roomy && (
        <div className="row gap">
          <label htmlFor={`fan-goto-${stepId}`} className="label" style={{ margin: 0 }}>Item #</label>
          <input id={`fan-goto-${stepId}`} type="number" min={0} max={p.total - 1} value={goto} style={{ width: 90 }}
            onChange={(e) => setGoto(e.target.value)} onKeyDown={(e) => e.key === 'Enter' && open()} />
          <button className="btn small" onClick={open} disabled={goto === ''}>Open</button>
        </div>
      )}
    </div>
  );
});
