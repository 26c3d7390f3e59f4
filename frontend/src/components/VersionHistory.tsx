import { useVersions } from '../api/hooks';
import { ErrorBox, Modal, relTime } from './common';

export function VersionHistory({ name, current, onClose, onView }: { name: string; current: number | null; onClose: () => void; onView: (v: number) => void }) {
  const versions = useVersions(name);
  return (
    <Modal title={`History of ${name}`} onClose={onClose}>
      {versions.isLoading && <p className="muted">Loading…</p>}
      <ErrorBox error={versions.error} />
      <ul className="version-list">
        {(versions.data ?? []).map((v) => (
          <li key={v.version} className={v.version === current ? 'current' : ''}>
            <span className="version-pill">v{v.version}</span>
            <span className="grow">{v.created_by} · {relTime(v.created_at)}</span>
            <button className="btn small" onClick={() => onView(v.version)} aria-label={`View version ${v.version}`}>
              {v.version === current ? 'Shown' : 'View'}
            </button>
          </li>
        ))}
      </ul>
    </Modal>
  );
}
