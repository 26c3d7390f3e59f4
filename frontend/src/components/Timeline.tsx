import type { RunView } from '../lib/runState';
import { durationMs, formatDuration } from '../lib/runState';

/** A Gantt strip per step (a fan-out step is one strip, not one per item), relative to the run's start. */
export function Timeline({ view, ids = view.order, now, onSelect }: { view: RunView; ids?: string[]; now: number; onSelect: (id: string) => void }) {
  const starts = ids.map((id) => view.steps[id]?.started_at).filter(Boolean).map((s) => Date.parse(s!));
  const t0 = view.run.started_at ? Date.parse(view.run.started_at) : starts.length ? Math.min(...starts) : now;
  const t1 = view.run.finished_at ? Date.parse(view.run.finished_at) : now;
  const span = Math.max(t1 - t0, 1000);
  return (
    <div className="timeline" role="group" aria-label="Timeline">
      {ids.map((id) => {
        const s = view.steps[id];
        const start = s.started_at ? Date.parse(s.started_at) : null;
        const end = s.finished_at ? Date.parse(s.finished_at) : now;
        const left = start == null ? 0 : ((start - t0) / span) * 100;
        const width = start == null ? 0 : Math.max(((end - start) / span) * 100, 0.6);
        return (
          <button key={id} className="timeline-row" onClick={() => onSelect(id)} aria-label={`${id}: ${s.state}`}>
            <span className="timeline-label">{id}</span>
            <span className="timeline-track">
              {start != null && <span className={`timeline-bar state-${s.state}`} style={{ left: `${left}%`, width: `${width}%` }} />}
            </span>
            <span className="timeline-dur">{formatDuration(durationMs(s.started_at, s.finished_at, now))}</span>
          </button>
        );
      })}
    </div>
  );
}
