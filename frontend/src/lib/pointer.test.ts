import { describe, expect, it } from 'vitest';
import { locate, mapIssues, parsePointer, toErrorSchema } from './pointer';
import { emptyDefinition } from './definition';

describe('JSON pointer → field', () => {
  it('parses and unescapes pointers', () => {
    expect(parsePointer('/spec/steps/0/with/a~1b~0c')).toEqual(['spec', 'steps', '0', 'with', 'a/b~c']);
    expect(parsePointer('')).toEqual([]);
  });

  it('locates the step index, section and field', () => {
    expect(locate('/spec/steps/2/with/repo')).toEqual({ lane: 'steps', stepIndex: 2, section: 'with', path: ['repo'] });
    expect(locate('/spec/steps/1/needs/0')).toEqual({ lane: 'steps', stepIndex: 1, section: 'needs', path: ['0'] });
    expect(locate('/spec/steps/1')).toEqual({ lane: 'steps', stepIndex: 1, section: 'step', path: [] });
    expect(locate('/metadata/name')).toBeNull();
    expect(locate('/spec/finally/0/if')).toEqual({ lane: 'finally', stepIndex: 0, section: 'if', path: [] });
  });

  it('maps issues to step ids and leaves others general; builds rjsf extraErrors', () => {
    const d = emptyDefinition();
    d.spec.steps = [{ id: 'x', uses: 'core/noop' }, { id: 'y', uses: 'git/tag' }, { id: 'z', uses: 'git/tag' }];
    const m = mapIssues(d, [
      { pointer: '/spec/steps/2/with/repo', message: 'required' },
      { pointer: '/spec/steps/2/with/allowed/1', message: 'bad glob' },
      { pointer: '/metadata/name', message: 'bad name' },
      { pointer: '/spec/steps/9/id', message: 'out of range' },
    ]);
    expect(m.byStep.get('z')?.map((i) => i.path)).toEqual([['repo'], ['allowed', '1']]);
    expect(m.general.map((g) => g.message)).toEqual(['bad name', 'out of range']);
    expect(toErrorSchema(m.byStep.get('z')!)).toEqual({
      repo: { __errors: ['required'] },
      allowed: { 1: { __errors: ['bad glob'] } },
    });
  });
});
