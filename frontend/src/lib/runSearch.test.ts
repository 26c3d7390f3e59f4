import { describe, expect, it } from 'vitest';
import { filterOfPointer, parseParamFilter, parseRunSearch, runSearchApiQuery, runSearchHash, toMoment } from './runSearch';

describe('run search', () => {
  it('round-trips every filter through the URL query, parameters in order', () => {
    const s = parseRunSearch(new URLSearchParams('workflow=release&state=failed&trigger=schedule&actor=ana&since=2026-12-01&until=2026-12-02&param.repo=shop&param.count=3'));
    expect(s).toEqual({ workflow: 'release', state: 'failed', trigger: 'schedule', actor: 'ana', since: '2026-12-01', until: '2026-12-02', params: [['repo', 'shop'], ['count', '3']] });
    expect(runSearchHash(s)).toBe('/runs?workflow=release&state=failed&trigger=schedule&actor=ana&since=2026-12-01&until=2026-12-02&param.repo=shop&param.count=3');
    expect(parseRunSearch(new URLSearchParams(runSearchHash(s).split('?')[1]))).toEqual(s);
  });

  it('drops an unknown state and empty values, and a value with = or spaces survives the URL', () => {
    const s = parseRunSearch(new URLSearchParams('state=nonsense&actor=&param.q=a%3Db%20c&param.=x'));
    expect(s.state).toBeUndefined();
    expect(s.actor).toBeUndefined();
    expect(s.params).toEqual([['q', 'a=b c']]);
    expect(runSearchHash({})).toBe('/runs');
  });

  it('asks the gateway for ISO moments: a day from its midnight, until a day includes that day', () => {
    const q = runSearchApiQuery({ since: '2026-12-01', until: '2026-12-01', params: [['repo', 'shop']] });
    expect(q.since).toBe(new Date(2026, 11, 1).toISOString());
    expect(q.until).toBe(new Date(2026, 11, 2).toISOString());
    expect(q['param.repo']).toBe('shop');
    expect(toMoment('2026-12-01T10:00:00Z')).toBe('2026-12-01T10:00:00Z');
    expect(toMoment('yesterday')).toBe('yesterday');
  });

  it('reads a parameter filter typed as name=value and a problem pointer as its filter', () => {
    expect(parseParamFilter('repo=shop')).toEqual(['repo', 'shop']);
    expect(parseParamFilter('param.expr=a=b')).toEqual(['expr', 'a=b']);
    expect(parseParamFilter('flag')).toEqual(['flag', '']);
    expect(parseParamFilter(' =x')).toBeNull();
    expect(filterOfPointer('/query/param.x')).toBe('param.x');
    expect(filterOfPointer('/query/since')).toBe('since');
    expect(filterOfPointer('/body/x')).toBeNull();
  });
});
