import { describe, expect, it } from 'vitest';
import type { StepDefinition, StepType } from '../api/types';
import { canCompensate, editUndo, pickUndo, startingWith, undoChoices } from './compensate';
import { locate, mapIssues, toErrorSchema } from './pointer';
import { emptyDefinition } from './definition';

const type = (name: string, properties: Record<string, unknown> = {}): StepType => ({
  type: name, plugin: name.split('/')[0], title: name, description: '', effects: 'local',
  config_schema: { type: 'object', properties }, outputs_schema: { type: 'object' },
});
const DELETE_TAG = type('git/delete-tag', { repo: { type: 'string' }, name: { type: 'string' }, sha: { type: 'string' }, remote: { type: 'string' } });
const RESET_TO = type('git/reset-to', { repo: { type: 'string' }, commit: { type: 'string' } });
const TYPES = [type('git/tag'), RESET_TO, type('core/approval'), type('workflow/publish'), DELETE_TAG, type('core/noop')];
const tag: StepDefinition = { id: 'tag', uses: 'git/tag', with: { repo: '${{ params.repo }}', name: 'v1' } };

describe('the compensation picker', () => {
  it('offers the built-in undo of the step first and never a gate or a sub-workflow', () => {
    expect(undoChoices(TYPES, tag).map((t) => t.type)).toEqual(['git/delete-tag', 'git/tag', 'git/reset-to', 'core/noop']);
    expect(undoChoices(TYPES, { id: 'c', uses: 'git/commit' })[0].type).toBe('git/reset-to');
    expect(canCompensate({ id: 'gate', uses: 'core/approval' })).toBe(false);
    expect(canCompensate(tag)).toBe(true);
  });

  it('picking a type starts its with from the step: its repo and references to its outputs', () => {
    expect(pickUndo(tag, 'git/delete-tag', DELETE_TAG)).toEqual({ compensate: { uses: 'git/delete-tag', with: {
      repo: '${{ params.repo }}', name: '${{ steps.tag.outputs.name }}', sha: '${{ steps.tag.outputs.sha }}' } } });
    expect(startingWith(RESET_TO, { id: 'commit', uses: 'git/commit', with: { repo: 'shop' } }))
      .toEqual({ repo: 'shop', commit: '${{ steps.commit.outputs.sha }}' });
    expect(pickUndo(tag, 'core/noop', type('core/noop'))).toEqual({ compensate: { uses: 'core/noop' } });
  });

  it('the same type changes nothing, another keeps timeout and retry, none removes it', () => {
    const undone: StepDefinition = { ...tag, compensate: { uses: 'git/delete-tag', with: { name: 'x' }, timeout: '30s', retry: { max_attempts: 3 } } };
    expect(pickUndo(undone, 'git/delete-tag', DELETE_TAG)).toEqual({});
    expect(pickUndo(undone, 'core/noop', type('core/noop'))).toEqual({ compensate: { uses: 'core/noop', timeout: '30s', retry: { max_attempts: 3 } } });
    expect(pickUndo(undone, '', undefined)).toEqual({ compensate: undefined });
  });
});

describe('editing the compensation', () => {
  const undone: StepDefinition = { ...tag, compensate: { uses: 'git/delete-tag', with: { name: 'x' }, retry: { max_attempts: 3, initial_interval: '2s' }, note: 'kept' } as never };

  it('writes its with, timeout and attempts into the YAML and keeps what the form does not know', () => {
    expect(editUndo(undone, { with: { name: 'y', sha: undefined, remote: '' } }).compensate)
      .toEqual({ uses: 'git/delete-tag', with: { name: 'y' }, retry: { max_attempts: 3, initial_interval: '2s' }, note: 'kept' });
    expect(editUndo(undone, { timeout: '1m' }).compensate).toMatchObject({ timeout: '1m', note: 'kept' });
    expect(editUndo(undone, { retry: { max_attempts: 5 } }).compensate?.retry).toEqual({ max_attempts: 5, initial_interval: '2s' });
  });

  it('a cleared field disappears, and so does a with, timeout or retry left empty', () => {
    const bare = editUndo({ ...undone, compensate: { uses: 'core/noop', timeout: '5s', retry: { max_attempts: 2 } } },
      { with: {}, timeout: '', retry: { max_attempts: undefined } });
    expect(bare).toEqual({ compensate: { uses: 'core/noop' } });
    expect(editUndo(tag, { timeout: '1s' })).toEqual({}); // no compensation: nothing to edit
  });
});

describe('validation problems of a compensation', () => {
  it('land in its own section and its with form', () => {
    expect(locate('/spec/steps/1/compensate/with/name')).toEqual({ lane: 'steps', stepIndex: 1, section: 'compensate', path: ['with', 'name'] });
    const d = emptyDefinition();
    d.spec.steps = [tag];
    const issues = mapIssues(d, [
      { pointer: '/spec/steps/0/compensate/with/name', message: 'steps.push.outputs.x: not upstream' },
      { pointer: '/spec/steps/0/compensate/uses', message: 'unknown step type' },
      { pointer: '/spec/steps/0/with/name', message: 'the step\'s own' },
    ]).byStep.get('tag')!;
    expect(toErrorSchema(issues, 'compensate', ['with'])).toEqual({ name: { __errors: ['steps.push.outputs.x: not upstream'] } });
    expect(toErrorSchema(issues)).toEqual({ name: { __errors: ['the step\'s own'] } });
  });
});
