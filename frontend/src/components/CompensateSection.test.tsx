// @vitest-environment jsdom
// The step panel's compensation form as a user meets it: a picker of the step types that may undo a
// step, the picked type's config form from its schema, problems at their field, and every edit a
// patch of the step's YAML; no form where a compensation is refused (a gate, a finally step).
import { afterEach, describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { StepPanel } from './StepPanel';
import { emptyDefinition } from '../lib/definition';
import type { StepDefinition, StepType, WorkflowDefinition } from '../api/types';
import type { StepIssue } from '../lib/pointer';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const type = (name: string, properties: Record<string, unknown> = {}): StepType => ({
  type: name, plugin: name.split('/')[0], title: name.split('/')[1], description: '', effects: 'local',
  config_schema: { type: 'object', properties }, outputs_schema: { type: 'object' },
});
// git/delete-tag's config schema as the plugin publishes it: nullable fields with defaults (never written).
const DELETE_TAG = {
  ...type('git/delete-tag'),
  config_schema: { additionalProperties: false, type: 'object', required: ['repo', 'name'], properties: {
    repo: { title: 'Repo', type: 'string' }, name: { title: 'Name', type: 'string' },
    sha: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Sha' },
    remote: { anyOf: [{ type: 'string' }, { type: 'null' }], default: 'origin', title: 'Remote' } } },
} as StepType;
const TYPES = [type('git/tag', { repo: { type: 'string' }, name: { type: 'string' } }), DELETE_TAG, type('core/approval')];

let root: Root | null = null;
let host: HTMLElement;
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = null;
});

function mount(step: StepDefinition, patches: Partial<StepDefinition>[], issues: StepIssue[] = [], finallyLane = false) {
  const definition: WorkflowDefinition = emptyDefinition();
  if (finallyLane) definition.spec.finally = [step];
  else definition.spec.steps = [step];
  host = document.createElement('div');
  document.body.appendChild(host);
  root = createRoot(host);
  act(() => root!.render(
    <StepPanel definition={definition} step={step} stepType={TYPES.find((t) => t.type === step.uses)} stepTypes={TYPES}
      issues={issues} readOnly={false} onChange={(p) => patches.push(p)} onRename={() => undefined}
      onDelete={() => undefined} onMoveLane={() => undefined} />));
}

function choose(select: HTMLSelectElement, value: string) {
  act(() => {
    Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value')!.set!.call(select, value);
    select.dispatchEvent(new Event('change', { bubbles: true }));
  });
}

const tag: StepDefinition = { id: 'tag', uses: 'git/tag', with: { repo: 'shop', name: 'v1' } };

describe('the compensation form', () => {
  it('picks the undo step type, never a gate, and writes it with its with into the step', () => {
    const patches: Partial<StepDefinition>[] = [];
    mount(tag, patches);
    const picker = host.querySelector<HTMLSelectElement>('#undo-uses')!;
    expect([...picker.options].map((o) => o.value)).toEqual(['', 'git/delete-tag', 'git/tag']);
    expect(host.querySelector('[id^="undo-tag_"]')).toBeNull(); // no form before a type is picked
    choose(picker, 'git/delete-tag');
    expect(patches).toEqual([{ compensate: { uses: 'git/delete-tag', with: {
      repo: 'shop', name: '${{ steps.tag.outputs.name }}', sha: '${{ steps.tag.outputs.sha }}' } } }]);
  });

  it('draws the picked type\'s fields with the stored with, and a problem at its field', async () => {
    const patches: Partial<StepDefinition>[] = [];
    const undone = { ...tag, compensate: { uses: 'git/delete-tag', with: { repo: 'shop', name: '${{ steps.tag.outputs.name }}' } } };
    mount(undone, patches, [{ pointer: '/spec/steps/0/compensate/with/name', message: 'steps.tag.outputs.nam: no output',
      section: 'compensate', path: ['with', 'name'] }]);
    await act(async () => { await new Promise((r) => setTimeout(r, 20)); });
    const name = host.querySelector<HTMLInputElement>('#undo-tag_name')!;
    expect(name.value).toBe('${{ steps.tag.outputs.name }}');
    expect(host.querySelector('#undo-tag_sha')).not.toBeNull();
    expect(host.querySelector('[data-testid="compensate-section"]')!.textContent).toContain('steps.tag.outputs.nam: no output');
    expect(patches).toEqual([]); // showing the form edits nothing: no default (remote: origin) written
    expect(host.querySelector<HTMLInputElement>('#undo-tag_remote')!.value).toBe('');
    const attempts = host.querySelector<HTMLInputElement>('#undo-attempts')!;
    act(() => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(attempts, '3');
      attempts.dispatchEvent(new Event('input', { bubbles: true }));
    });
    expect(patches.at(-1)).toEqual({ compensate: { ...undone.compensate, retry: { max_attempts: 3 } } });
    choose(host.querySelector<HTMLSelectElement>('#undo-uses')!, '');
    expect(patches.at(-1)).toEqual({ compensate: undefined });
  });

  it('a for_each step\'s form says its undo runs per item', () => {
    mount({ ...tag, for_each: ['a'], compensate: { uses: 'git/delete-tag' } }, []);
    expect(host.querySelector('[data-testid="compensate-section"]')!.textContent).toContain('once per succeeded item');
  });

  it('a gate or a finally step has no form; a compensate it has shows its problem at the top', () => {
    const problem: StepIssue = { pointer: '/spec/finally/0/compensate', message: 'a finally step has no compensation: it runs after the unwind',
      section: 'compensate', path: [] };
    mount({ ...tag, compensate: { uses: 'git/delete-tag' } }, [], [problem], true);
    expect(host.querySelector('[data-testid="compensate-section"]')).toBeNull();
    expect(host.textContent).toContain('a finally step has no compensation');
    act(() => root?.unmount());
    host.remove();
    mount({ id: 'gate', uses: 'core/approval' }, []);
    expect(host.querySelector('[data-testid="compensate-section"]')).toBeNull();
  });
});
