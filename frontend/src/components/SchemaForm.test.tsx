// @vitest-environment jsdom
// The forms as a user meets them: a step's config form mounted on a step's stored `with` reports no
// change (selecting a step must never edit it), an optional field is one input, not an
// "option 1 / option 2" chooser, and the run form says which field is missing in words.
import { afterEach, describe, expect, it } from 'vitest';
import { act } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { SchemaForm } from './SchemaForm';
import { VERSION_BUMP } from '../lib/schemaFixtures';
import type { JSONSchema7 } from '../api/types';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root | null = null;
let host: HTMLElement;
function mount(el: React.ReactElement) {
  host = document.createElement('div');
  document.body.appendChild(host);
  root = createRoot(host);
  act(() => root!.render(el));
}
afterEach(() => {
  act(() => root?.unmount());
  host?.remove();
  root = null;
});

describe('a step\'s config form', () => {
  it('mounted on the template\'s `with` reports nothing, or only the same data: no defaults written', async () => {
    const reports: Record<string, unknown>[] = [];
    // Key order differs from the schema's on purpose (rjsf reorders to the schema's).
    const stored = { part: '${{ params.part }}', repo: '${{ params.repo }}' };
    mount(<SchemaForm idPrefix="cfg-bump" schema={{ ...VERSION_BUMP, title: undefined }} formData={stored} allowExpressions onChange={(d) => reports.push(d)} />);
    await act(async () => { await new Promise((r) => setTimeout(r, 20)); });
    for (const r of reports) {
      const cleaned = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
      expect(cleaned).toEqual(stored);
    }
    // The default is shown, not set.
    const label = host.querySelector<HTMLInputElement>('#cfg-bump_prerelease_label')!;
    expect(label.value).toBe('');
    expect(label.placeholder).toBe('default: rc');
  });

  it('draws each optional field once, as one input, with no "option 1 / option 2" chooser', () => {
    mount(<SchemaForm idPrefix="cfg-bump" schema={{ ...VERSION_BUMP, title: undefined }} formData={{ repo: 'shop' }} allowExpressions onChange={() => undefined} />);
    const text = host.textContent ?? '';
    expect(text).not.toMatch(/option 1|option 2/i);
    expect(host.querySelectorAll('select').length).toBe(0); // `part` is a text input with suggestions, no anyOf chooser
    for (const field of ['repo', 'part', 'version', 'prerelease_label']) {
      expect(host.querySelectorAll(`[id="cfg-bump_${field}"]`).length, field).toBe(1);
    }
    expect((text.match(/Version/g) ?? []).length).toBe(1);
    expect((text.match(/Files/g) ?? []).length).toBe(1);
  });
});

describe('the run form', () => {
  const params: JSONSchema7 = {
    type: 'object', required: ['who'],
    properties: {
      who: { type: 'string', title: 'Who to greet' },
      note: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Note' },
      times: { type: 'integer', default: 2, title: 'Times' },
    },
  };

  it('starts from the defaults, shows the optional field once, and names the missing field in words on submit', async () => {
    const submitted: unknown[] = [];
    mount(<SchemaForm idPrefix="param" schema={params} formData={{}} onSubmit={(d) => submitted.push(d)} submitLabel="Start run" />);
    expect(host.querySelector<HTMLInputElement>('#param_times')!.value).toBe('2');
    expect(host.textContent).not.toMatch(/option 1/i);
    expect(host.querySelectorAll('[id="param_note"]').length).toBe(1);
    await act(async () => { host.querySelector<HTMLButtonElement>('button[type="submit"]')!.click(); });
    expect(submitted).toEqual([]);
    expect(host.textContent).toContain('Who to greet is required');
    expect(host.textContent).not.toContain('must have required property');
  });
});

describe('a yes/no field with a default', () => {
  it('offers "default: yes", yes and no, and leaves the data alone until one is picked', async () => {
    const reports: Record<string, unknown>[] = [];
    const schema: JSONSchema7 = { type: 'object', properties: { fail_on_problems: { type: 'boolean', default: true, title: 'Fail On Problems' } } };
    mount(<SchemaForm idPrefix="cfg-lint" schema={schema} formData={{}} allowExpressions onChange={(d) => reports.push(d)} />);
    const select = host.querySelector<HTMLSelectElement>('#cfg-lint_fail_on_problems')!;
    expect([...select.options].map((o) => o.text)).toEqual(['default: yes', 'yes', 'no']);
    expect(select.value).toBe('');
    expect(reports.every((r) => r.fail_on_problems === undefined)).toBe(true);
    await act(async () => {
      select.value = 'false';
      select.dispatchEvent(new Event('change', { bubbles: true }));
    });
    expect(reports[reports.length - 1]).toEqual({ fail_on_problems: false });
  });
});
