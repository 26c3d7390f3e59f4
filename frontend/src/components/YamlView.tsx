import { useEffect, useMemo, useRef, useState } from 'react';
import { basicSetup } from 'codemirror';
import { Annotation, Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { yaml } from '@codemirror/lang-yaml';
import { syntaxHighlighting } from '@codemirror/language';
import { oneDarkHighlightStyle } from '@codemirror/theme-one-dark';
import { autocompletion, type CompletionContext as CmContext, type CompletionResult } from '@codemirror/autocomplete';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { YAMLParseError } from 'yaml';
import type { StepType, ValidationIssue, WorkflowDefinition } from '../api/types';
import { completionsAt, definitionOfText, lineOf, pointerRange, ShapeError, yamlTextOf } from '../lib/yamlEditor';

interface Problem { from: number; to: number; line: number; message: string; pointer?: string }

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '12.5px', backgroundColor: '#0f1420', color: '#dbe2f0' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-content': { caretColor: '#e2e8f0' },
  '.cm-gutters': { backgroundColor: '#111827', color: '#64748b', border: 'none' },
  '.cm-activeLine': { backgroundColor: '#ffffff0a' }, '.cm-activeLineGutter': { backgroundColor: '#ffffff10' },
  '&.cm-focused .cm-cursor': { borderLeftColor: '#e2e8f0' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: '#334155 !important' },
  '.cm-tooltip': { backgroundColor: '#1e293b', color: '#e2e8f0', border: '1px solid #334155' },
  '.cm-tooltip-autocomplete > ul > li[aria-selected]': { backgroundColor: '#4f46e5', color: '#fff' },
  '.cm-completionDetail': { color: '#94a3b8', marginLeft: '1em' },
}, { dark: true });

/**
 * The same definition as the canvas, as YAML in CodeMirror: edits apply as soon as the text parses;
 * a YAML error and the server's validation problems (JSON pointers) are marked on their lines;
 * keys (and a step's `uses`) complete from the workflow schema and the step types. The layout
 * (`ui.positions`) is hidden unless *Show layout* is on; hidden positions are kept.
 */
export function YamlView({ definition, readOnly, onChange, issues = [], types = [] }: {
  definition: WorkflowDefinition; readOnly: boolean; onChange: (d: WorkflowDefinition) => void;
  issues?: ValidationIssue[]; types?: StepType[];
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const emitted = useRef<WorkflowDefinition | null>(null);
  const [showLayout, setShowLayout] = useState(false);
  const [text, setText] = useState(() => yamlTextOf(definition, false));
  const [parseError, setParseError] = useState<Problem | null>(null);
  // What the listeners read: the latest props without rebuilding the editor.
  const latest = useRef({ definition, onChange, showLayout, types });
  latest.current = { definition, onChange, showLayout, types };
  const editable = useRef(new Compartment());

  useEffect(() => {
    const complete = (ctx: CmContext): CompletionResult | null => {
      const r = completionsAt(ctx.state.doc.toString(), ctx.pos, latest.current.types);
      if (!r) return null;
      // While typing, the list opens once a word has begun; Ctrl+Space opens it anywhere.
      if (!ctx.explicit && r.from === ctx.pos) return null;
      return toResult(r);
    };
    const toResult = (r: NonNullable<ReturnType<typeof completionsAt>>): CompletionResult => ({
      from: r.from,
      options: r.options.map((o) => ({ label: o.label, detail: o.detail, type: o.kind === 'key' ? 'property' : 'constant', apply: o.kind === 'key' ? `${o.label}: ` : o.label })),
      validFor: /^[\w$./-]*$/,
    });
    const extensions: Extension[] = [
      basicSetup, yaml(), theme, syntaxHighlighting(oneDarkHighlightStyle), lintGutter(),
      autocompletion({ override: [complete], activateOnTyping: true }),
      editable.current.of([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]),
      EditorView.contentAttributes.of({ id: 'yaml-editor', 'aria-label': 'Workflow YAML', 'aria-multiline': 'true', spellcheck: 'false' }),
      EditorView.updateListener.of((u) => {
        if (!u.docChanged) return;
        const t = u.state.doc.toString();
        setText(t);
        if (u.transactions.some((tr) => tr.annotation(external))) return;
        try {
          const def = definitionOfText(t, latest.current.definition, latest.current.showLayout);
          emitted.current = def;
          setParseError(null);
          latest.current.onChange(def);
        } catch (err) {
          setParseError(problemOf(err, t));
        }
      }),
    ];
    const v = new EditorView({ parent: host.current!, state: EditorState.create({ doc: yamlTextOf(latest.current.definition, latest.current.showLayout), extensions }) });
    // The browser tests (and anyone scripting the page) read the text as `#yaml-editor`.value.
    Object.defineProperty(v.contentDOM, 'value', { configurable: true, get: () => v.state.doc.toString() });
    view.current = v;
    return () => { v.destroy(); view.current = null; };
    // The editor is built once; props reach it through `latest` and the effects below.
  }, []);

  useEffect(() => {
    view.current?.dispatch({ effects: editable.current.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]) });
  }, [readOnly]);

  // A change from elsewhere (canvas, undo, the layout toggle) replaces the text; typing does not.
  const lastLayout = useRef(showLayout);
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    if (definition === emitted.current && lastLayout.current === showLayout) return;
    lastLayout.current = showLayout;
    const next = yamlTextOf(definition, showLayout);
    if (next === v.state.doc.toString()) return;
    const head = Math.min(v.state.selection.main.head, next.length);
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: next }, selection: { anchor: head }, annotations: external.of(true) });
    emitted.current = definition;
    setParseError(null);
  }, [definition, showLayout]);

  // The problems on their lines: the YAML error while the text does not parse, else the server's.
  const problems = useMemo<Problem[]>(() => {
    if (parseError) return [parseError];
    return issues.map((i) => {
      const r = pointerRange(text, i.pointer) ?? { from: 0, to: Math.min(1, text.length) };
      return { ...r, line: lineOf(text, r.from), message: i.message, pointer: i.pointer };
    });
  }, [issues, text, parseError]);
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const len = v.state.doc.length;
    const diagnostics: Diagnostic[] = problems.map((p) => ({
      from: Math.min(p.from, len), to: Math.min(Math.max(p.to, p.from), len), severity: 'error',
      message: p.pointer ? `${p.pointer}: ${p.message}` : p.message, source: p.pointer ? 'validation' : 'YAML',
    }));
    v.dispatch(setDiagnostics(v.state, diagnostics));
  }, [problems]);

  const goTo = (p: Problem) => {
    const v = view.current;
    if (!v) return;
    v.dispatch({ selection: { anchor: Math.min(p.from, v.state.doc.length) }, scrollIntoView: true });
    v.focus();
  };

  return (
    <div className="yaml-view" data-testid="yaml-view">
      <div className="yaml-toolbar">
        <label className="inline">
          <input type="checkbox" checked={showLayout} onChange={(e) => setShowLayout(e.target.checked)} /> Show layout (<code>ui.positions</code>)
        </label>
        <span className="muted small-text">Ctrl+Space completes keys</span>
      </div>
      <div className="yaml-editor" ref={host} />
      {problems.length > 0 && (
        <ul className="yaml-problems" aria-label="YAML problems" data-testid="yaml-problems">
          {problems.map((p, i) => (
            <li key={i}>
              <button className="link" onClick={() => goTo(p)}>line {p.line}</button>{' '}
              {p.pointer && <code>{p.pointer}</code>} {p.message}
            </li>
          ))}
        </ul>
      )}
      <div className={`yaml-status${parseError ? ' bad' : ''}`} role="status">
        {parseError ? `YAML: line ${parseError.line}: ${parseError.message}` : issues.length ? `${issues.length} problem(s) marked in the text` : 'YAML in sync with the canvas'}
      </div>
    </div>
  );
}

/** Marks the editor's own replacement of the text (from the canvas), which is not an edit to apply. */
const external = Annotation.define<boolean>();

function problemOf(err: unknown, text: string): Problem {
  if (err instanceof YAMLParseError) {
    const [from, to] = err.pos;
    const first = err.message.split('\n')[0];
    return { from, to: Math.max(to, from + 1), line: err.linePos?.[0].line ?? lineOf(text, from), message: first };
  }
  if (err instanceof ShapeError) {
    const r = pointerRange(text, err.pointer) ?? { from: 0, to: Math.min(1, text.length) };
    return { ...r, line: lineOf(text, r.from), message: err.message };
  }
  return { from: 0, to: Math.min(1, text.length), line: 1, message: (err as Error).message };
}
