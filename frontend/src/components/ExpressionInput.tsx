import { useEffect, useId, useRef, useState } from 'react';
import { functionsFor, insertFunction, type ExpressionFunction } from '../lib/functions';

interface Props {
  id: string;
  value: string;
  onCommit: (v: string) => void;
  /** `if`: a condition, whose list adds the status functions. */
  kind: 'if' | 'value';
  placeholder?: string;
  disabled?: boolean;
  invalid?: boolean;
  label?: string;
}

/**
 * A text field for a `${{ }}` expression that commits on blur or Enter (one undo step), with the
 * list of the functions expressions know one click away: picking one inserts the call at the cursor.
 */
export function ExpressionInput(p: Props) {
  const [v, setV] = useState(p.value);
  const [open, setOpen] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const cursor = useRef<number | null>(null);
  const listId = useId();
  useEffect(() => setV(p.value), [p.value]);
  const pick = (fn: ExpressionFunction) => {
    const at = cursor.current ?? v.length;
    const next = insertFunction(v, at, fn);
    setV(next.text);
    setOpen(false);
    requestAnimationFrame(() => {
      input.current?.focus();
      input.current?.setSelectionRange(next.cursor, next.cursor);
    });
  };
  return (
    <div className="expr-row">
      <input id={p.id} ref={input} value={v} placeholder={p.placeholder} disabled={p.disabled} aria-invalid={p.invalid || undefined}
        className="mono" spellCheck={false}
        onChange={(e) => setV(e.target.value)}
        onSelect={(e) => { cursor.current = e.currentTarget.selectionStart; }}
        onBlur={(e) => {
          cursor.current = e.currentTarget.selectionStart;
          // Leaving for the function list is not a commit: the pick edits the text first.
          const to = e.relatedTarget as HTMLElement | null;
          if (to?.closest(`[data-fn-list="${listId}"]`) || to?.dataset.fnFor === p.id) return;
          if (v !== p.value) p.onCommit(v);
        }}
        onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()} />
      <FunctionMenu forId={p.id} kind={p.kind} label={p.label ?? p.id} disabled={p.disabled} open={open} setOpen={setOpen} listId={listId} onPick={pick} />
    </div>
  );
}

/**
 * The ƒx button and its list of the functions expressions know (status functions only for `if:`).
 * Picking one calls `onPick`; the field inserts the call where its cursor was.
 */
export function FunctionMenu({ forId, kind, label, disabled, open, setOpen, listId, onPick }: {
  forId: string; kind: 'if' | 'value'; label: string; disabled?: boolean; open: boolean; setOpen: (f: (o: boolean) => boolean) => void;
  listId: string; onPick: (fn: ExpressionFunction) => void;
}) {
  const fns = functionsFor(kind);
  useEffect(() => {
    if (!open) return;
    const close = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(() => false);
    // A press anywhere but the menu (or its button) closes it.
    const away = (e: MouseEvent) => {
      const el = e.target as HTMLElement | null;
      if (!el?.closest(`[data-fn-list="${listId}"]`) && el?.closest('[data-fn-for]')?.getAttribute('data-fn-for') !== forId) setOpen(() => false);
    };
    window.addEventListener('keydown', close);
    window.addEventListener('mousedown', away);
    return () => {
      window.removeEventListener('keydown', close);
      window.removeEventListener('mousedown', away);
    };
  }, [open, setOpen, listId, forId]);
  return (
    <span className="fn-help">
      <button type="button" className="fn-help-btn" data-fn-for={forId} aria-expanded={open} aria-controls={listId} disabled={disabled}
        title="Functions you can use in ${{ }}" aria-label={`Expression functions for ${label}`}
        onClick={() => setOpen((o) => !o)}>ƒx</button>
      {open && (
        <ul className="fn-list" id={listId} data-fn-list={listId} role="listbox" aria-label="Expression functions" data-testid={`fn-list-${forId}`}>
          {fns.some((f) => f.status) && <li className="fn-group" role="presentation">status (in if:)</li>}
          {fns.filter((f) => f.status).map((f) => <FnItem key={f.name} fn={f} onPick={onPick} />)}
          <li className="fn-group" role="presentation">functions</li>
          {fns.filter((f) => !f.status).map((f) => <FnItem key={f.name} fn={f} onPick={onPick} />)}
          <li className="fn-group" role="presentation">in scope</li>
          <li className="fn-desc muted small-text" role="presentation" style={{ padding: '0 6px 4px' }}>
            <code>params.*</code>, <code>steps.&lt;id&gt;.outputs</code>, <code>item</code> / <code>item_index</code> (in a for_each step), <code>run.state</code> (in finally)
          </li>
        </ul>
      )}
    </span>
  );
}

function FnItem({ fn, onPick }: { fn: ExpressionFunction; onPick: (f: ExpressionFunction) => void }) {
  return (
    <li role="option" aria-selected={false}>
      <button type="button" onMouseDown={(e) => e.preventDefault()} onClick={() => onPick(fn)}>
        <code>{fn.signature}</code>
        <span className="fn-desc">{fn.description}</span>
      </button>
    </li>
  );
}
