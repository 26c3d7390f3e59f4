import { useState } from 'react';
import { useVersions } from '../api/hooks';
import { ErrorBox, Modal, relTime } from './common';

export function VersionHistory({ name, current, onClose, onView, onCompare }: {
  name: string; current: number | null; onClose: () => void; onView: (v: number) => void; onCompare: (from: number, to: number) => void;
}) {
  const versions = useVersions(name);
  const list = versions.data ?? [];
  const [from, setFrom] = useState<number | ''>('');
  const [to, setTo] = useState<number | ''>('');
  // Default: the one before the newest against the newest.
  const fromV = from === '' ? list[1]?.version : from;
  const toV = to === '' ? list[0]?.version : to;
  return (
    <Modal title={`History of ${name}`} onClose={onClose}>
      {versions.isLoading && <p className="muted">Loading…</p>}
      <ErrorBox error={versions.error} />
      <ul className="version-list">
        {list.map((v) => (
          <li key={v.version} className={v.version === current ? 'current' : ''}>
            <span className="version-pill">v{v.version}</span>
            <span className="grow">{v.created_by} · {relTime(v.created_at)}</span>
            <button className="btn small" onClick={() => onView(v.version)} aria-label={`View version ${v.version}`}>
              {v.version === current ? 'Shown' : 'View'}
            </button>
          </li>
        ))}
      </ul>
      {list.length > 1 && (
        <div className="row gap compare-row" role="group" aria-label="Compare two versions">
          <label htmlFor="compare-from">Compare</label>
          <select id="compare-from" value={fromV ?? ''} onChange={(e) => setFrom(Number(e.target.value))}>
            {list.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
          <label htmlFor="compare-to">with</label>
          <select id="compare-to" value={toV ?? ''} onChange={(e) => setTo(Number(e.target.value))}>
            {list.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
          <button className="btn small primary" disabled={fromV == null || toV == null || fromV === toV}
            onClick={() => fromV != null && toV != null && onCompare(fromV, toV)}>Show changes</button>
        </div>
      )}
    </Modal>
  );
}
