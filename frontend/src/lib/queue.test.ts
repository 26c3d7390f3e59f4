import { describe, expect, it } from 'vitest';
import { blockerState, concurrencyOf, conflictOf, isWaiting, queueText, shortId, waitingText } from './queue';
import type { Run, StepRun } from '../api/types';

const step = (id: string, state: StepRun['state']): StepRun => ({ id, uses: 'core/noop', state, attempt: 1, outputs: {}, error: null, started_at: null, finished_at: null });

describe('a keyed run in its queue', () => {
  const waiting = { state: 'queued', concurrency: { key: 'release:/shop', limit: 1, on_conflict: 'queue', position: 2, blocked_by: ['0123456789abcdef'] } };

  it('reads the concurrency object of a run', () => {
    expect(concurrencyOf(waiting)).toEqual({ key: 'release:/shop', limit: 1, on_conflict: 'queue', position: 2, blocked_by: ['0123456789abcdef'] });
  });

  it('treats a missing or null concurrency as an unkeyed run', () => {
    expect(concurrencyOf({ state: 'queued' })).toBeNull();
    expect(concurrencyOf({ concurrency: null })).toBeNull();
    expect(concurrencyOf({ concurrency: { position: 1 } })).toBeNull();
    expect(queueText(null, 'queued')).toBeNull();
  });

  it('says "#N in queue" only while the run waits', () => {
    const c = concurrencyOf(waiting);
    expect(queueText(c, 'queued')).toBe('#2 in queue');
    expect(queueText({ ...c!, position: 0, blocked_by: [] }, 'running')).toBeNull();
    // A run that already left the queue (cancelled while waiting) is not "in queue" any more.
    expect(isWaiting(c, 'cancelled')).toBe(false);
  });

  it('drops junk in blocked_by and defaults the rest', () => {
    expect(concurrencyOf({ concurrency: { key: 'k', blocked_by: ['a', 3, null] } })).toEqual({ key: 'k', limit: 1, on_conflict: 'queue', position: 0, blocked_by: ['a'] });
  });

  it('names why the blocker holds the slot', () => {
    const run = (state: Run['state'], steps: StepRun[]) => ({ state, steps });
    expect(blockerState(run('running', [step('a', 'succeeded'), step('gate', 'awaiting_approval')]))).toBe('awaiting approval');
    expect(blockerState(run('paused', [step('a', 'pending')]))).toBe('paused');
    expect(blockerState(run('running', [step('a', 'running')]))).toBe('running');
    expect(blockerState(run('succeeded_with_warnings', []))).toBe('succeeded with warnings');
  });

  it('shows the blocker by a short id, with its state once known', () => {
    expect(shortId('0123456789abcdef')).toBe('01234567');
    expect(waitingText('0123456789abcdef', 'awaiting approval')).toBe('waiting for run 01234567 (awaiting approval)');
    expect(waitingText('0123456789abcdef', null)).toBe('waiting for run 01234567');
  });
});

describe('a start refused because the key is taken', () => {
  it('reads the holders of a 409 concurrency-conflict problem', () => {
    const problem = { type: 'https://vwmp.dev/problems/concurrency-conflict', title: 'Conflict', status: 409, detail: 'held by run r1', concurrency: { key: 'k', blocked_by: ['r1', 7] } };
    expect(conflictOf(problem)).toEqual({ key: 'k', blocked_by: ['r1'] });
    expect(conflictOf({ type: 'about:blank', title: 'Conflict', status: 409, detail: 'x' })).toBeNull();
    expect(conflictOf({ concurrency: { blocked_by: [] } })).toBeNull();
  });
});
