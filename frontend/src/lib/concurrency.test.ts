import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { concurrencySpecOf, emptyDefinition, normalizeDefinition, setConcurrency } from './definition';

describe('spec.concurrency in the definition', () => {
  it('writes the block and reads it back through the YAML text', () => {
    const d = setConcurrency(emptyDefinition('rel'), { key: 'release:${{ params.repo }}', limit: 1, on_conflict: 'queue' });
    const text = YAML.stringify(d);
    expect(text).toMatch(/concurrency:\n\s+key: release:\$\{\{ params.repo \}\}\n\s+limit: 1\n\s+on_conflict: queue/);
    const back = normalizeDefinition(YAML.parse(text));
    expect(concurrencySpecOf(back)).toEqual({ key: 'release:${{ params.repo }}', limit: 1, on_conflict: 'queue' });
    expect(back.spec.steps).toEqual([]);
  });

  it('changes one field and keeps the others', () => {
    const d = setConcurrency(emptyDefinition('rel'), { key: 'k', limit: 2, on_conflict: 'fail' });
    expect(concurrencySpecOf(setConcurrency(d, { on_conflict: 'cancel_pending' }))).toEqual({ key: 'k', limit: 2, on_conflict: 'cancel_pending' });
  });

  it('removing the key removes the whole block, limit and on_conflict too', () => {
    const d = setConcurrency(emptyDefinition('rel'), { key: 'k', limit: 3 });
    const gone = setConcurrency(d, { key: '' });
    expect('concurrency' in gone.spec).toBe(false);
    expect(YAML.stringify(gone)).not.toContain('concurrency');
    expect(setConcurrency(d, { key: '   ' }).spec.concurrency).toBeUndefined();
  });

  it('a block from hand-written YAML with only a key is kept as written (no defaults added)', () => {
    const def = normalizeDefinition(YAML.parse('apiVersion: vwmp/v1\nkind: Workflow\nmetadata: {name: x}\nspec:\n  steps: []\n  concurrency: {key: only}\n'));
    expect(concurrencySpecOf(def)).toEqual({ key: 'only' });
    expect(YAML.stringify(def)).toMatch(/concurrency:\n\s+key: only\n/);
  });

  it('ignores a malformed block instead of showing it', () => {
    for (const bad of [[], 'k', { limit: 1 }, { key: 7 }]) {
      const def = normalizeDefinition({ spec: { steps: [], concurrency: bad } });
      expect(concurrencySpecOf(def)).toBeNull();
    }
    const odd = normalizeDefinition({ spec: { steps: [], concurrency: { key: 'k', on_conflict: 'explode', limit: '2' } } });
    expect(concurrencySpecOf(odd)).toEqual({ key: 'k' });
  });
});
