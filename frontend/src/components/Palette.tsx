import { useMemo, useState } from 'react';
import type { StepType } from '../api/types';

export const DND_MIME = 'application/x-vwmp-step-type';

/** Step types grouped by plugin. Drag one onto the canvas, or press Enter to add it. */
export function Palette({ types, loading, onAdd, disabled, collapsed = false, onToggle }: {
  types: StepType[]; loading: boolean; onAdd: (t: StepType) => void; disabled: boolean;
  /** A narrow rail instead of the list (the split view at 1,440 px needs the room); `onToggle` opens or closes it. */
  collapsed?: boolean; onToggle?: () => void;
}) {
  const [q, setQ] = useState('');
  const groups = useMemo(() => {
    const needle = q.trim().toLowerCase();
    const m = new Map<string, StepType[]>();
    for (const t of types) {
      const hay = `${t.type} ${t.title} ${t.description} ${t.plugin}`.toLowerCase();
      if (needle && !hay.includes(needle)) continue;
      m.set(t.plugin, [...(m.get(t.plugin) ?? []), t]);
    }
    return [...m].sort(([a], [b]) => (a === 'core' ? -1 : b === 'core' ? 1 : a.localeCompare(b)));
  }, [types, q]);
  if (collapsed) {
    return (
      <aside className="palette collapsed" aria-label="Step palette" data-testid="palette">
        <button className="palette-rail" onClick={onToggle} aria-expanded={false} aria-label="Show the step palette" title="Show the step palette">
          <span aria-hidden="true">›</span><span className="palette-rail-text">Steps</span>
        </button>
      </aside>
    );
  }
  return (
    <aside className="palette" aria-label="Step palette" data-testid="palette">
      {onToggle && (
        <button className="link palette-hide" onClick={onToggle} aria-expanded aria-label="Hide the step palette" title="Hide the step palette">‹ Hide</button>
      )}
      <label htmlFor="palette-search" className="sr-only">Search step types</label>
      <input id="palette-search" type="search" placeholder="Search steps…" value={q} onChange={(e) => setQ(e.target.value)} />
      {loading && <p className="muted">Loading step types…</p>}
      {!loading && groups.length === 0 && <p className="muted">No step type matches.</p>}
      {groups.map(([plugin, list]) => (
        <section key={plugin} className="palette-group">
          <h3>{plugin} <span className="count">{list.length}</span></h3>
          <ul>
            {list.map((t) => (
              <li key={t.type}>
                <button
                  className="palette-item"
                  data-testid={`palette-${t.type}`}
                  draggable={!disabled}
                  disabled={disabled}
                  title={`${t.description}\n\nDrag onto the canvas, or press Enter to add.`}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DND_MIME, t.type);
                    e.dataTransfer.effectAllowed = 'move';
                  }}
                  onClick={() => onAdd(t)}
                >
                  <span className="palette-title">{t.title || t.type}</span>
                  <span className="palette-type">{t.type}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </aside>
  );
}
