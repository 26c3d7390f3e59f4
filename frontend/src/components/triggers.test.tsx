// @vitest-environment jsdom
// The Triggers section, the run's trigger badge and the plan's release notes rendered to HTML.
import { describe, expect, it } from 'vitest';
import { renderToStaticMarkup } from 'react-dom/server';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import { TriggersSection } from './TriggersSection';
import { TriggerBadge } from './TriggerBadge';
import { PlanView } from './PlanView';
import type { WorkflowDefinition } from '../api/types';

const html = (el: ReactElement) => renderToStaticMarkup(<QueryClientProvider client={new QueryClient()}>{el}</QueryClientProvider>);
const def = (triggers: unknown[]): WorkflowDefinition => ({
  apiVersion: 'vwmp/v1', kind: 'Workflow', metadata: { name: 'release' }, spec: { steps: [], triggers },
});

describe('the Triggers section', () => {
  it('shows a schedule\'s preview, a webhook\'s URL and hint, and the gateway\'s pointer at its field', () => {
    const out = html(<TriggersSection saved={null} readOnly={false} onChange={() => undefined}
      issues={[{ pointer: '/spec/triggers/1/webhook/secret', message: 'must be a ${{ secrets.NAME }} reference' }]}
      definition={def([
        { id: 'nightly', schedule: { cron: '0 3 * * 1-5', timezone: 'Europe/Berlin' } },
        { id: 'on-push', webhook: { provider: 'gitlab', secret: 'plain' } },
        { id: 'after-build', on_run: { workflow: 'build', states: ['succeeded'] } },
      ])} />);
    expect(out).toContain('data-testid="fire-preview"');
    expect((out.match(/<tr><td>/g) ?? []).length).toBe(5);
    expect(out).toContain(`value="${window.location.origin}/api/v1/hooks/release/on-push"`);
    expect(out).toContain('X-Gitlab-Token');
    expect(out).toMatch(/id="trigger-1-secret"[^>]*aria-invalid="true"/);
    expect(out).toContain('must be a ${{ secrets.NAME }} reference');
    expect(out).toContain('<option value="build" selected="">build</option>');
  });

  it('puts a bad cron\'s message at the cron field', () => {
    const out = html(<TriggersSection saved={null} readOnly={false} onChange={() => undefined} issues={[]}
      definition={def([{ id: 'n', schedule: { cron: '0 3 * *' } }])} />);
    expect(out).toMatch(/id="trigger-0-cron"[^>]*aria-invalid="true"/);
    expect(out).toContain('five fields');
    expect(out).not.toContain('fire-preview');
  });
});

describe('a run\'s trigger and a forge request\'s notes', () => {
  it('labels the trigger and links the upstream run', () => {
    expect(html(<TriggerBadge trigger={{ id: 'nightly', kind: 'schedule', at: '2026-03-30T01:00:00Z' }} />)).toContain('schedule · nightly');
    const onRun = html(<TriggerBadge trigger={{ id: 'after-build', kind: 'on_run', at: null, run_id: 'abcdef123456' }} />);
    expect(onRun).toContain('href="#/runs/abcdef123456"');
    expect(html(<TriggerBadge trigger={null} />)).toContain('manual');
  });

  it('renders the JSON body\'s notes of a plan item as sanitised Markdown', () => {
    const diff = 'POST https://api.github.com/repos/o/r/releases\nAuthorization: ***\n\n'
      + JSON.stringify({ tag_name: 'v0.5.0', body: '## Features\n\n- add <img src=x onerror=alert(1)> [x](javascript:alert(1))' });
    const out = html(<PlanView plan={[{ action: 'create release', target: 'o/r v0.5.0', diff }]} />);
    expect(out).toContain('<h2>Features</h2>');
    expect(out).not.toMatch(/<img|javascript:/);
    expect(out).toContain('Authorization: ***');
  });
});
