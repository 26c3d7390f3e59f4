import { useEffect, useRef, type ReactNode } from 'react';
import { ApiError } from '../api/problem';
import type { RunState, StepState } from '../api/types';

const ERROR_TITLE: Record<number, string> = { 403: 'Not allowed', 409: 'Conflict', 412: 'Conflict', 422: 'Invalid' };

/** Shows an error; for problem+json it lists each pointer with its message. */
export function ErrorBox({ error, onClose }: { error: unknown; onClose?: () => void }) {
  if (!error) return null;
  const title = error instanceof Error ? error.message : String(error);
  const issues = error instanceof ApiError ? error.issues : [];
  return (
    <div className="error-box" role="alert">
      <div className="error-title">
        <strong>{error instanceof ApiError ? ERROR_TITLE[error.status] ?? 'Error' : 'Error'}</strong> {title}
        {onClose && <button className="link" onClick={onClose} aria-label="Dismiss error">×</button>}
      </div>
      {issues.length > 0 && (
        <ul>
          {issues.map((i, k) => (
            <li key={k}><code>{i.pointer || '/'}</code> {i.message}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), '
  + 'textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The dialog's keyboard-reachable controls, in tab order (visible ones only). */
function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

/**
 * A modal dialog: focus moves into it on open (its first field, else its first control), Tab and
 * Shift+Tab stay inside it, Escape closes it, and the focus returns where it was.
 */
export function Modal({ title, onClose, children, wide }: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  // Parents pass a new onClose on every render (the run page re-renders twice a second): keep the
  // latest in a ref so the focus set-up below runs once per opening, not on every render.
  const closeRef = useRef(onClose);
  useEffect(() => { closeRef.current = onClose; }, [onClose]);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const dialog = ref.current;
    if (!dialog) return;
    const field = dialog.querySelector<HTMLElement>('.modal-body :is(input:not([type="hidden"]), textarea, select):not([disabled])');
    (field ?? focusables(dialog)[0] ?? dialog).focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        closeRef.current();
        return;
      }
      if (e.key !== 'Tab') return;
      const items = focusables(dialog);
      const active = document.activeElement;
      if (!items.length) {
        e.preventDefault();
        return;
      }
      const first = items[0];
      const last = items[items.length - 1];
      if (!dialog.contains(active) || (e.shiftKey && active === first) || (!e.shiftKey && active === last)) {
        e.preventDefault();
        (e.shiftKey ? last : first).focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      prev?.focus?.();
    };
  }, []);
  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`modal${wide ? ' wide' : ''}`} role="dialog" aria-modal="true" aria-label={title} ref={ref} tabIndex={-1}>
        <header className="modal-header">
          <h2>{title}</h2>
          <button className="icon-btn" onClick={onClose} aria-label="Close dialog">×</button>
        </header>
        <div className="modal-body">{children}</div>
      </div>
    </div>
  );
}

export function StateBadge({ state }: { state: RunState | StepState }) {
  return <span className={`state-badge state-${state}`} data-testid="state-badge">{state.replace(/_/g, ' ')}</span>;
}

export function relTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(t).toLocaleString();
}
