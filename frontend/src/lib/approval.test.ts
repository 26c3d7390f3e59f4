import { describe, expect, it } from 'vitest';
import { approveBody, deadlineText, deciders, decidersText, gateOutputsOf, inputErrors, planChangeOf } from './approval';

const outputs = (over: Record<string, unknown> = {}, policy: Record<string, unknown> = {}) => ({
  plan: [{ action: 'push', target: 'origin', step: 'push' }],
  plan_digest: 'abc123',
  approvals: [{ by: 'alice', at: '2026-12-02T01:00:00Z', comment: 'fine' }],
  policy: { approvers: { roles: ['operator'], names: ['alice', 'bob', 'carol'] }, required: 2, allow_self_approval: false, pin_plan: true, timeout: '24h', on_timeout: 'reject', inputs: null, ...policy },
  started_by: 'carol',
  deadline: '2026-12-03T01:00:00Z',
  ...over,
});

describe('who may still decide a gate', () => {
  it('counts what is still needed and leaves out who approved and the starter', () => {
    const d = deciders(gateOutputsOf(outputs()), 'bob');
    expect(d).toEqual({ remaining: 1, required: 2, roles: ['operator'], names: ['bob'], selfBlocked: false, alreadyApproved: false });
    expect(decidersText(d)).toBe('role operator, or bob');
  });

  it('blocks the person who started the run when self-approval is off', () => {
    expect(deciders(gateOutputsOf(outputs()), 'carol').selfBlocked).toBe(true);
    const allowed = deciders(gateOutputsOf(outputs({}, { allow_self_approval: true })), 'carol');
    expect(allowed.selfBlocked).toBe(false);
    expect(allowed.names).toEqual(['bob', 'carol']);
  });

  it('does not block anyone when the current user is unknown, but says who approved already', () => {
    expect(deciders(gateOutputsOf(outputs()), null).selfBlocked).toBe(false);
    expect(deciders(gateOutputsOf(outputs()), 'alice').alreadyApproved).toBe(true);
  });

  it('falls back to one approval by any operator for a gate without a policy (today\'s outputs)', () => {
    const gate = gateOutputsOf({ approved_by: 'x' });
    expect(gate).toEqual({ plan: [], plan_digest: null, approvals: [], policy: null, started_by: null, deadline: null });
    const d = deciders(gate, 'me');
    expect(d.remaining).toBe(1);
    expect(d.selfBlocked).toBe(false);
    expect(decidersText(d)).toBe('anyone with the operator role');
  });

  it('never counts below zero and ignores malformed approvals', () => {
    const gate = gateOutputsOf(outputs({ approvals: [{ by: 'alice' }, { by: 'bob' }, { by: 'dave' }, 'junk', { who: 'x' }] }));
    expect(gate.approvals.map((a) => a.by)).toEqual(['alice', 'bob', 'dave']);
    expect(deciders(gate, null).remaining).toBe(0);
  });

  it('reads an inputs schema and a bad required as one', () => {
    const gate = gateOutputsOf(outputs({}, { inputs: { type: 'object', properties: { notes_override: { type: 'string' } } }, required: 0 }));
    expect(gate.policy?.inputs?.properties?.notes_override).toEqual({ type: 'string' });
    expect(gate.policy?.required).toBe(1);
  });
});

describe('the approve call and its problems', () => {
  it('always sends the digest shown, and the inputs when the gate asks for them', () => {
    expect(approveBody('ok', 'abc', { notes: 'x' })).toEqual({ comment: 'ok', plan_digest: 'abc', inputs: { notes: 'x' } });
    expect(approveBody('ok', null, null)).toEqual({ comment: 'ok' });
  });

  it('reads the new plan of a 409 plan-changed problem', () => {
    const problem = { type: 'https://vwmp.dev/problems/plan-changed', title: 'Conflict', status: 409, detail: 'The plan changed', plan_digest: 'def', plan: [{ action: 'push', target: 'x' }] };
    expect(planChangeOf(problem)).toEqual({ plan_digest: 'def', plan: [{ action: 'push', target: 'x' }] });
    expect(planChangeOf({ type: 'about:blank', title: 'Conflict', status: 409, detail: 'already approved' })).toBeNull();
    expect(planChangeOf(null)).toBeNull();
  });

  it('puts 422 pointers under /inputs on their field and keeps the rest apart', () => {
    const { errors, other } = inputErrors([
      { pointer: '/inputs/notes_override', message: 'must be a string' },
      { pointer: '/inputs', message: "'ticket' is a required property" },
      { pointer: '/inputs/links/0', message: 'must be a URL' },
      { pointer: '/comment', message: 'too long' },
    ]);
    expect(errors).toEqual({ notes_override: { __errors: ['must be a string'] }, __errors: ["'ticket' is a required property"], links: { 0: { __errors: ['must be a URL'] } } });
    expect(other).toEqual([{ pointer: '/comment', message: 'too long' }]);
  });

  it('says when the deadline is', () => {
    const now = Date.parse('2026-12-02T01:00:00Z');
    expect(deadlineText('2026-12-02T04:30:00Z', now)).toBe('in 3h 30m');
    expect(deadlineText('2026-12-02T00:58:00Z', now)).toBe('2m ago');
    expect(deadlineText(null, now)).toBeNull();
    // 23h 59m 50s rounds to a whole day of minutes, never to "23h 60m".
    expect(deadlineText('2026-12-03T00:59:50Z', now)).toBe('in 24h 0m');
  });
});
