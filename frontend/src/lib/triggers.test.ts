import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { normalizeDefinition } from './definition';
import {
  changeKind, issuesAt, kindOf, newTrigger, nextFires, parseEvery, setTriggers, triggerIssues, triggerLabel, triggersOf, untilText,
  updateTrigger, webhookUrl,
} from './triggers';

const TEXT = `
apiVersion: vwmp/v1
kind: Workflow
metadata: {name: release}
spec:
  steps:
    - {id: a, uses: core/noop}
  triggers:
    - id: nightly
      schedule: {cron: "0 3 * * 1-5", timezone: Europe/Berlin}
      overlap: skip
      catchup: latest
      parameters: {part: patch, when: "\${{ trigger.scheduled_at }}"}
    - id: on-push
      webhook:
        provider: github
        secret: "\${{ secrets.RELEASE_HOOK }}"
        filter: "\${{ event.ref == 'refs/heads/main' }}"
      parameters: {repo: shop, ref: "\${{ event.after }}"}
    - id: after-build
      on_run: {workflow: build, states: [succeeded]}
      parameters: {version: "\${{ trigger.run.outputs.version }}"}
`;

describe('spec.triggers in the YAML view', () => {
  it('round-trips all three kinds unchanged', () => {
    const def = normalizeDefinition(YAML.parse(TEXT));
    const again = normalizeDefinition(YAML.parse(YAML.stringify(def)));
    expect(again.spec.triggers).toEqual(YAML.parse(TEXT).spec.triggers);
    expect(triggersOf(again).map(kindOf)).toEqual(['schedule', 'webhook', 'on_run']);
  });

  it('edits one entry and removes the key when the last entry goes', () => {
    const def = normalizeDefinition(YAML.parse(TEXT));
    const edited = updateTrigger(def, 0, { schedule: { every: '1m' }, catchup: undefined });
    expect(triggersOf(edited)[0]).toEqual({ id: 'nightly', schedule: { every: '1m' }, overlap: 'skip', parameters: { part: 'patch', when: '${{ trigger.scheduled_at }}' } });
    expect(triggersOf(edited)[1]).toBe(triggersOf(def)[1]);
    const none = setTriggers(def, []);
    expect('triggers' in none.spec).toBe(false);
    expect(YAML.stringify(none)).not.toContain('triggers');
  });

  it('adds entries with fresh ids and switches kind keeping id, overlap and parameters', () => {
    const list = [newTrigger('schedule', [])];
    expect(list[0].id).toBe('schedule-1');
    expect(newTrigger('schedule', list).id).toBe('schedule-2');
    const hook = changeKind({ id: 'x', schedule: { every: '5m' }, catchup: 'none', overlap: 'queue', parameters: { a: 1 } }, 'webhook');
    expect(hook).toEqual({ id: 'x', overlap: 'queue', parameters: { a: 1 }, webhook: { provider: 'github', secret: '${{ secrets.RELEASE_HOOK }}' } });
  });
});

describe('the schedule preview', () => {
  const from = new Date('2026-03-27T12:00:00Z'); // a Friday; Europe/Berlin moves to summer time on Sunday the 29th

  it('lists the next five weekday 03:00 in Berlin across the DST change', () => {
    const p = nextFires({ cron: '0 3 * * 1-5', timezone: 'Europe/Berlin' }, 5, from);
    expect(p.error).toBeNull();
    expect(p.times.map((d) => d.toISOString())).toEqual([
      '2026-03-30T01:00:00.000Z', '2026-03-31T01:00:00.000Z', '2026-04-01T01:00:00.000Z', '2026-04-02T01:00:00.000Z', '2026-04-03T01:00:00.000Z',
    ]);
  });

  it('computes every: ticks as whole multiples since the epoch', () => {
    const p = nextFires({ every: '1m' }, 3, new Date('2026-03-27T12:00:30Z'));
    expect(p.times.map((d) => d.toISOString())).toEqual(['2026-03-27T12:01:00.000Z', '2026-03-27T12:02:00.000Z', '2026-03-27T12:03:00.000Z']);
    expect(parseEvery('30s')).toBe(30);
    expect(parseEvery('1h')).toBe(3600);
    expect(parseEvery(90)).toBe(90);
    expect(parseEvery('soon')).toBeNull();
  });

  it('says what is wrong with a bad cron, time zone or duration, and which field', () => {
    expect(nextFires({ cron: '0 3 * *' }, 5, from)).toMatchObject({ field: 'cron', error: expect.stringContaining('five fields') });
    expect(nextFires({ cron: '61 3 * * *' }, 5, from)).toMatchObject({ field: 'cron', error: expect.stringMatching(/Invalid cron: .*minute/) });
    expect(nextFires({ cron: '0 3 * * *', timezone: 'Mars/Olympus' }, 5, from)).toMatchObject({ field: 'timezone' });
    expect(nextFires({ every: 'often' }, 5, from)).toMatchObject({ field: 'every' });
  });

  it('tells how far off a fire time is', () => {
    const now = Date.parse('2026-03-27T12:00:00Z');
    expect(untilText('2026-03-27T12:00:42Z', now)).toBe('in 42s');
    expect(untilText('2026-03-27T15:00:00Z', now)).toBe('in 3h');
  });
});

describe('webhooks, run labels and the gateway\'s pointers', () => {
  it('builds the hook URL below the origin', () => {
    expect(webhookUrl('http://gw:8080/', 'release', 'on-push')).toBe('http://gw:8080/api/v1/hooks/release/on-push');
  });

  it('labels a run by how it started', () => {
    expect(triggerLabel({ id: 'nightly', kind: 'schedule', at: null }).text).toBe('schedule · nightly');
    expect(triggerLabel({ id: 'on-push', kind: 'webhook', at: null, delivery: 'd1' }).text).toBe('webhook · on-push');
    expect(triggerLabel({ id: 'after-build', kind: 'on_run', at: null, run_id: 'r9' })).toEqual({ kind: 'on_run', text: 'after-build · after run', upstreamRunId: 'r9' });
    expect(triggerLabel({ id: null, kind: 'manual', at: null }).text).toBe('manual');
    expect(triggerLabel(undefined).text).toBe('manual');
  });

  it('puts each /spec/triggers/N pointer on its trigger and field', () => {
    const issues = [
      { pointer: '/spec/triggers/1/schedule/cron', message: 'bad cron' },
      { pointer: '/spec/triggers/1/parameters/part', message: 'not one of' },
      { pointer: '/spec/triggers/10/id', message: 'other trigger' },
      { pointer: '/spec/steps/0/uses', message: 'a step' },
    ];
    const mine = triggerIssues(issues, 1);
    expect(issuesAt(mine, 'schedule/cron')).toEqual(['bad cron']);
    expect(issuesAt(mine, 'parameters')).toEqual(['not one of']);
    expect(issuesAt(mine, 'id')).toEqual([]);
    expect(issuesAt(triggerIssues(issues, 10), 'id')).toEqual(['other trigger']);
  });
});
