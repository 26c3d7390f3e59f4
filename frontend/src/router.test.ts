import { describe, expect, it } from 'vitest';
import { parseRoute } from './router';

describe('routes', () => {
  it('keeps a run-state filter from the URL only when the API knows that state', () => {
    expect(parseRoute('#/runs?state=succeeded_with_warnings&workflow=release'))
      .toEqual({ page: 'runs', workflow: 'release', state: 'succeeded_with_warnings' });
    expect(parseRoute('#/runs?state=nonsense')).toEqual({ page: 'runs', workflow: undefined, state: undefined });
    expect(parseRoute('#/runs?actor=ana&param.repo=shop')).toEqual({ page: 'runs', actor: 'ana', params: [['repo', 'shop']] });
  });
});
