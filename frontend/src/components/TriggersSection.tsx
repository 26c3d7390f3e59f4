import { useEffect, useMemo, useState } from 'react';
import { ApiError } from '../api/problem';
import { useTriggerControl, useTriggers, useWorkflows } from '../api/hooks';
import type { TriggerStatus, ValidationIssue, WorkflowDefinition } from '../api/types';
import {
  CATCHUP_VALUES, END_STATES, OVERLAP_VALUES, PROVIDER_HINTS, PROVIDERS, TRIGGER_ICON, TRIGGER_KINDS, changeKind, formatIn, issuesAt,
  kindOf, newTrigger, nextFires, setTriggers, triggerIssues, triggersOf, untilText, updateTrigger, webhookUrl,
  type DefinedKind, type Provider, type TriggerSpec,
} from '../lib/triggers';
import { ErrorBox, relTime } from './common';

const KIND_LABEL: Record<DefinedKind, string> = { schedule: 'Schedule', webhook: 'Webhook', on_run: 'After a run' };
const BROWSER_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone;
const TIME_ZONES: string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
})();

interface Props {
  definition: WorkflowDefinition;
  /** The saved workflow's name (null while it is new): the live status and the webhook URL need it. */
  saved: string | null;
  readOnly: boolean;
  issues: ValidationIssue[];
  onChange: (def: WorkflowDefinition) => void;
}

/** `spec.triggers`: schedules, webhooks and completion triggers, with their live state once saved. */
export function TriggersSection({ definition, saved, readOnly, issues, onChange }: Props) {
  const triggers = triggersOf(definition);
  const status = useTriggers(saved);
  const byId = new Map((status.data ?? []).map((s) => [s.id, s]));
  const [adding, setAdding] = useState<DefinedKind>('schedule');
  return (
    <section className="panel-section" aria-labelledby="wf-triggers-title" data-testid="triggers-section">
      <h3 id="wf-triggers-title">Triggers <span className="muted small-text">(runs that start themselves)</span></h3>
      {triggers.length === 0 && <p className="muted small-text">No triggers: runs start only by hand or through the API.</p>}
      {triggers.map((t, i) => (
        <TriggerCard key={i} index={i} trigger={t} all={triggers} definition={definition} saved={saved} readOnly={readOnly}
          issues={triggerIssues(issues, i)} status={byId.get(t.id) ?? null} statusError={status.error}
          onChange={(patch) => onChange(updateTrigger(definition, i, patch))}
          onReplace={(next) => onChange(setTriggers(definition, triggers.map((x, k) => (k === i ? next : x))))}
          onRemove={() => onChange(setTriggers(definition, triggers.filter((_, k) => k !== i)))} />
      ))}
      {!readOnly && (
        <div className="row gap">
          <label htmlFor="wf-trigger-kind" className="sr-only">Kind of the new trigger</label>
          <select id="wf-trigger-kind" value={adding} onChange={(e) => setAdding(e.target.value as DefinedKind)}>
            {TRIGGER_KINDS.map((k) => <option key={k} value={k}>{KIND_LABEL[k]}</option>)}
          </select>
          <button className="btn small" onClick={() => onChange(setTriggers(definition, [...triggers, newTrigger(adding, triggers)]))}>+ Add trigger</button>
        </div>
      )}
      {saved && <p className="field-description"><a href={`#/runs?workflow=${encodeURIComponent(saved)}`}>Runs of this workflow</a> show how each was started.</p>}
    </section>
  );
}

function Errors({ messages }: { messages: string[] }) {
  return messages.length ? <ul className="field-errors">{messages.map((m, i) => <li key={i}>{m}</li>)}</ul> : null;
}

/** A text field that commits on blur or Enter (one undo step per edit, like the other panels). */
function Text(p: { id: string; value: string; onCommit: (v: string) => void; placeholder?: string; disabled?: boolean; invalid?: boolean; list?: string }) {
  const [v, setV] = useState(p.value);
  useEffect(() => setV(p.value), [p.value]);
  return (
    <input id={p.id} className="mono" value={v} placeholder={p.placeholder} disabled={p.disabled} spellCheck={false} list={p.list}
      aria-invalid={p.invalid || undefined}
      onChange={(e) => setV(e.target.value)}
      onBlur={() => v !== p.value && p.onCommit(v)}
      onKeyDown={(e) => e.key === 'Enter' && (e.currentTarget as HTMLInputElement).blur()} />
  );
}

function TriggerCard({ index, trigger: t, all, definition, saved, readOnly, issues, status, statusError, onChange, onReplace, onRemove }: {
  index: number; trigger: TriggerSpec; all: TriggerSpec[]; definition: WorkflowDefinition; saved: string | null; readOnly: boolean;
  issues: Map<string, string[]>; status: TriggerStatus | null; statusError: unknown;
  onChange: (patch: Partial<TriggerSpec>) => void; onReplace: (t: TriggerSpec) => void; onRemove: () => void;
}) {
  const kind = kindOf(t);
  const fid = (f: string) => `trigger-${index}-${f}`;
  const dupe = all.filter((x) => x.id === t.id).length > 1;
  return (
    <div className="trigger-card" data-testid={`trigger-${t.id}`} role="group" aria-label={`Trigger ${t.id}`}>
      <div className="trigger-head">
        <span aria-hidden>{kind ? TRIGGER_ICON[kind] : '?'}</span>
        <label htmlFor={fid('id')} className="sr-only">Trigger id</label>
        <Text id={fid('id')} value={t.id ?? ''} disabled={readOnly} invalid={dupe || issuesAt(issues, 'id').length > 0}
          onCommit={(id) => onChange({ id: id.trim() })} />
        <label htmlFor={fid('kind')} className="sr-only">Kind</label>
        <select id={fid('kind')} value={kind ?? ''} disabled={readOnly} onChange={(e) => onReplace(changeKind(t, e.target.value as DefinedKind))}>
          {TRIGGER_KINDS.map((k) => <option key={k} value={k}>{KIND_LABEL[k]}</option>)}
        </select>
        {!readOnly && <button className="link" aria-label={`Remove trigger ${t.id}`} onClick={onRemove}>×</button>}
      </div>
      <Errors messages={[...(dupe ? [`Another trigger has the id "${t.id}"`] : []), ...issuesAt(issues, 'id'), ...(issues.get('') ?? [])]} />
      {kind === 'schedule' && <ScheduleFields t={t} fid={fid} readOnly={readOnly} issues={issues} onChange={onChange} />}
      {kind === 'webhook' && <WebhookFields t={t} fid={fid} readOnly={readOnly} issues={issues} onChange={onChange} workflow={saved ?? definition.metadata.name} saved={!!saved} />}
      {kind === 'on_run' && <OnRunFields t={t} fid={fid} readOnly={readOnly} issues={issues} onChange={onChange} self={definition.metadata.name} />}
      <div className="grid2">
        <div>
          <label htmlFor={fid('overlap')}>Overlap</label>
          <select id={fid('overlap')} value={t.overlap ?? ''} disabled={readOnly} onChange={(e) => onChange({ overlap: (e.target.value || undefined) as TriggerSpec['overlap'] })}>
            <option value="">default ({kind === 'schedule' ? 'skip' : kind === 'webhook' ? 'allow' : 'engine default'})</option>
            {OVERLAP_VALUES.map((v) => <option key={v} value={v}>{v}</option>)}
          </select>
          <Errors messages={issuesAt(issues, 'overlap')} />
        </div>
        {kind === 'schedule' && (
          <div>
            <label htmlFor={fid('catchup')}>Catch-up</label>
            <select id={fid('catchup')} value={t.catchup ?? ''} disabled={readOnly} onChange={(e) => onChange({ catchup: (e.target.value || undefined) as TriggerSpec['catchup'] })}>
              <option value="">default (latest)</option>
              {CATCHUP_VALUES.map((v) => <option key={v} value={v}>{v}</option>)}
            </select>
            <Errors messages={issuesAt(issues, 'catchup')} />
          </div>
        )}
      </div>
      <ParametersField t={t} fid={fid} readOnly={readOnly} issues={issues} onChange={onChange} />
      {saved && <TriggerStatusView workflow={saved} trigger={t} status={status} statusError={statusError} />}
    </div>
  );
}

type FieldProps = { t: TriggerSpec; fid: (f: string) => string; readOnly: boolean; issues: Map<string, string[]>; onChange: (patch: Partial<TriggerSpec>) => void };

function ScheduleFields({ t, fid, readOnly, issues, onChange }: FieldProps) {
  const s = t.schedule ?? {};
  const mode = s.every !== undefined ? 'every' : 'cron';
  const preview = useMemo(() => nextFires(s), [s]);
  // `every:` ticks are instants; they are shown in UTC.
  const zone = mode === 'cron' ? s.timezone || 'UTC' : 'UTC';
  const local = (f: 'cron' | 'timezone' | 'every') => (preview.error && preview.field === f ? [preview.error] : []);
  return (
    <>
      <label htmlFor={fid('mode')}>Fires</label>
      <select id={fid('mode')} value={mode} disabled={readOnly}
        onChange={(e) => onChange({ schedule: e.target.value === 'every' ? { every: '1h' } : { cron: '0 3 * * 1-5', timezone: 'UTC' } })}>
        <option value="cron">on a cron schedule</option>
        <option value="every">every …</option>
      </select>
      {mode === 'cron' ? (
        <div className="grid2">
          <div>
            <label htmlFor={fid('cron')}>Cron</label>
            <Text id={fid('cron')} value={s.cron ?? ''} placeholder="0 3 * * 1-5" disabled={readOnly}
              invalid={local('cron').length + issuesAt(issues, 'schedule/cron').length > 0}
              onCommit={(cron) => onChange({ schedule: { ...s, cron: cron.trim() } })} />
            <Errors messages={[...local('cron'), ...issuesAt(issues, 'schedule/cron')]} />
          </div>
          <div>
            <label htmlFor={fid('timezone')}>Time zone</label>
            <Text id={fid('timezone')} value={s.timezone ?? ''} placeholder="UTC" disabled={readOnly} list="vwmp-time-zones"
              invalid={local('timezone').length + issuesAt(issues, 'schedule/timezone').length > 0}
              onCommit={(timezone) => onChange({ schedule: { ...s, timezone: timezone.trim() || undefined } })} />
            <Errors messages={[...local('timezone'), ...issuesAt(issues, 'schedule/timezone')]} />
          </div>
        </div>
      ) : (
        <>
          <label htmlFor={fid('every')}>Every</label>
          <Text id={fid('every')} value={String(s.every ?? '')} placeholder="30s, 5m, 1h" disabled={readOnly}
            invalid={local('every').length + issuesAt(issues, 'schedule/every').length > 0}
            onCommit={(every) => onChange({ schedule: { every: every.trim() } })} />
          <Errors messages={[...local('every'), ...issuesAt(issues, 'schedule/every')]} />
        </>
      )}
      <Errors messages={issuesAt(issues, 'schedule').filter((m) => !['cron', 'timezone', 'every'].some((f) => issuesAt(issues, `schedule/${f}`).includes(m)))} />
      <datalist id="vwmp-time-zones">{TIME_ZONES.map((z) => <option key={z} value={z} />)}</datalist>
      {preview.times.length > 0 && (
        <table className="fire-preview" data-testid="fire-preview">
          <caption className="small-text muted">Next {preview.times.length} fire times</caption>
          <thead><tr><th>{zone}</th>{BROWSER_TZ !== zone && <th>your time ({BROWSER_TZ})</th>}</tr></thead>
          <tbody>
            {preview.times.map((d) => (
              <tr key={d.getTime()}><td>{formatIn(d, zone)}</td>{BROWSER_TZ !== zone && <td className="muted">{formatIn(d, BROWSER_TZ)}</td>}</tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  return (
    <button className="btn small" aria-label={label} onClick={() => {
      navigator.clipboard.writeText(text).then(() => setCopied('yes'), () => setCopied('no'));
      setTimeout(() => setCopied(null), 2000);
    }}>{copied === 'yes' ? '✓ Copied' : copied === 'no' ? 'Copy failed: select the text' : 'Copy'}</button>
  );
}

function WebhookFields({ t, fid, readOnly, issues, onChange, workflow, saved }: FieldProps & { workflow: string; saved: boolean }) {
  const w = t.webhook ?? { provider: 'github', secret: '' };
  const url = webhookUrl(window.location.origin, workflow || '<workflow>', t.id || '<trigger id>');
  const hint = PROVIDER_HINTS[w.provider] ?? PROVIDER_HINTS.generic;
  return (
    <>
      <div className="grid2">
        <div>
          <label htmlFor={fid('provider')}>Provider</label>
          <select id={fid('provider')} value={w.provider} disabled={readOnly} onChange={(e) => onChange({ webhook: { ...w, provider: e.target.value as Provider } })}>
            {PROVIDERS.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
          <Errors messages={issuesAt(issues, 'webhook/provider')} />
        </div>
        <div>
          <label htmlFor={fid('secret')}>Secret</label>
          <Text id={fid('secret')} value={w.secret ?? ''} placeholder="${{ secrets.RELEASE_HOOK }}" disabled={readOnly}
            invalid={issuesAt(issues, 'webhook/secret').length > 0} onCommit={(secret) => onChange({ webhook: { ...w, secret: secret.trim() } })} />
          <Errors messages={issuesAt(issues, 'webhook/secret')} />
        </div>
      </div>
      <label htmlFor={fid('filter')}>Filter <span className="muted small-text">(optional; false: no run)</span></label>
      <Text id={fid('filter')} value={w.filter ?? ''} placeholder="${{ event.ref == 'refs/heads/main' }}" disabled={readOnly}
        invalid={issuesAt(issues, 'webhook/filter').length > 0}
        onCommit={(filter) => onChange({ webhook: { ...w, filter: filter.trim() || undefined } })} />
      <Errors messages={issuesAt(issues, 'webhook/filter')} />
      <label htmlFor={fid('url')}>Webhook URL {!saved && <span className="muted small-text">(live once saved)</span>}</label>
      <div className="row gap">
        <input id={fid('url')} className="mono grow" readOnly value={url} data-testid="webhook-url" onFocus={(e) => e.currentTarget.select()} />
        <CopyButton text={url} label={`Copy the webhook URL of ${t.id}`} />
      </div>
      <dl className="hook-hint small-text" data-testid="provider-hint">
        <dt>Where</dt><dd>{hint.where}</dd>
        <dt>Content type</dt><dd>{hint.contentType}</dd>
        <dt>Secret</dt><dd>{hint.secret}</dd>
        <dt>Header</dt><dd>{hint.header}</dd>
        <dt>Events</dt><dd>{hint.events}</dd>
      </dl>
      <p className="field-description">The secret is a <code>{'${{ secrets.NAME }}'}</code> reference, read from the engine's secret store; <code>{'${{ event }}'}</code> is the delivery's JSON payload.</p>
    </>
  );
}

function OnRunFields({ t, fid, readOnly, issues, onChange, self }: FieldProps & { self: string }) {
  const o = t.on_run ?? { workflow: '' };
  const workflows = useWorkflows();
  const names = (workflows.data ?? []).map((w) => w.name).filter((n) => n !== self);
  const states = o.states ?? ['succeeded'];
  return (
    <>
      <label htmlFor={fid('workflow')}>When a run of</label>
      <select id={fid('workflow')} value={o.workflow} disabled={readOnly} aria-invalid={issuesAt(issues, 'on_run/workflow').length > 0 || undefined}
        onChange={(e) => onChange({ on_run: { ...o, workflow: e.target.value } })}>
        <option value="">— choose a workflow —</option>
        {o.workflow && !names.includes(o.workflow) && <option value={o.workflow}>{o.workflow}</option>}
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
      <Errors messages={issuesAt(issues, 'on_run/workflow')} />
      <fieldset className="states" disabled={readOnly}>
        <legend>ends as</legend>
        {END_STATES.map((s) => (
          <label key={s} className="inline">
            <input type="checkbox" checked={states.includes(s)}
              onChange={(e) => onChange({ on_run: { ...o, states: e.target.checked ? [...states, s] : states.filter((x) => x !== s) } })} /> {s.replace(/_/g, ' ')}
          </label>
        ))}
      </fieldset>
      <Errors messages={issuesAt(issues, 'on_run/states')} />
      <p className="field-description"><code>{'${{ trigger.run }}'}</code> holds the run that ended (id, state, parameters, outputs).</p>
    </>
  );
}

function ParametersField({ t, fid, readOnly, issues, onChange }: FieldProps) {
  const shown = t.parameters ? JSON.stringify(t.parameters, null, 2) : '';
  const [text, setText] = useState(shown);
  const [err, setErr] = useState<string | null>(null);
  useEffect(() => setText(shown), [shown]);
  return (
    <>
      <label htmlFor={fid('parameters')}>Parameters <span className="muted small-text">(JSON; values may hold {'${{ }}'})</span></label>
      <textarea id={fid('parameters')} className="mono" rows={Math.min(8, Math.max(2, text.split('\n').length))} value={text} disabled={readOnly} spellCheck={false}
        placeholder='{"part": "patch"}'
        onChange={(e) => setText(e.target.value)}
        onBlur={() => {
          if (!text.trim()) { setErr(null); if (t.parameters) onChange({ parameters: undefined }); return; }
          try {
            const v = JSON.parse(text) as unknown;
            if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('Parameters are an object: {"name": value}');
            setErr(null);
            if (JSON.stringify(v) !== JSON.stringify(t.parameters)) onChange({ parameters: v as Record<string, unknown> });
          } catch (e) {
            setErr((e as Error).message);
          }
        }} />
      <Errors messages={[...(err ? [err] : []), ...issuesAt(issues, 'parameters')]} />
    </>
  );
}

/** The saved trigger's live state and its Pause/Resume (operator; a viewer is shown the 403). */
function TriggerStatusView({ workflow, trigger, status, statusError }: { workflow: string; trigger: TriggerSpec; status: TriggerStatus | null; statusError: unknown }) {
  const control = useTriggerControl(workflow);
  if (statusError) return <ErrorBox error={statusError} />;
  if (!status) return <p className="muted small-text" data-testid="trigger-status">Not live yet: save to start it.</p>;
  const forbidden = control.error instanceof ApiError && control.error.status === 403;
  return (
    <div className="trigger-status" data-testid="trigger-status">
      <dl className="kv small-text">
        <dt>State</dt><dd data-testid="trigger-state">{status.paused ? <span className="paused-pill">paused{status.paused_by ? ` by ${status.paused_by}` : ''}</span> : 'active'}</dd>
        {status.kind === 'schedule' && <><dt>Next fire</dt><dd data-testid="trigger-next">{status.next_fire_at ? `${formatIn(new Date(status.next_fire_at), BROWSER_TZ)} (${untilText(status.next_fire_at)})` : '—'}</dd></>}
        <dt>Last fire</dt><dd data-testid="trigger-last">{status.last_fire_at ? relTime(status.last_fire_at) : 'never'}
          {status.last_run_id && <> · <a href={`#/runs/${encodeURIComponent(status.last_run_id)}`} data-testid="trigger-last-run">run {status.last_run_id.slice(0, 8)}</a></>}</dd>
        {status.last_error && <><dt>Last error</dt><dd className="error-text" data-testid="trigger-error">{status.last_error}</dd></>}
      </dl>
      <button className="btn small" disabled={control.isPending} onClick={() => control.mutate({ id: trigger.id, action: status.paused ? 'resume' : 'pause' })}>
        {status.paused ? '▶ Resume' : 'Pause'}
      </button>
      {forbidden
        ? <p className="error-text small-text" role="alert">Only an operator may pause or resume a trigger ({(control.error as ApiError).message}).</p>
        : <ErrorBox error={control.error} onClose={() => control.reset()} />}
    </div>
  );
}
