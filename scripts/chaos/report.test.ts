import type { ApiClient } from './api-client';
import { ScenarioReport } from './report';
import { ProbeLog } from './scenarios/probe-log';

// The verdict logic of the chaos suite: a scenario passes only with at least
// one invariant and none failed, and the probe log classifies every answer.

let write: jest.SpyInstance;
beforeEach(() => {
  write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => write.mockRestore());

describe('ScenarioReport', () => {
  it('passes only when every invariant holds, and prints each with its numbers', () => {
    const r = new ScenarioReport('R0', 'test');
    expect(r.ok).toBe(false);
    expect(r.check('a holds', true, '1 = 1')).toBe(true);
    expect(r.ok).toBe(true);
    expect(r.check('b breaks', false, '1 ≠ 2')).toBe(false);
    expect(r.ok).toBe(false);
    expect(write).toHaveBeenCalledWith('  PASS  a holds: 1 = 1\n');
    expect(write).toHaveBeenCalledWith('  FAIL  b breaks: 1 ≠ 2\n');
    expect(r.summary()).toMatch(/^R0 FAIL: 1\/2 invariants hold, [\d.]+ s — failed: b breaks$/);
  });

  it('reports an error instead of a verdict, and an empty scenario as a failure', () => {
    const r = new ScenarioReport('R0', 'test');
    expect(r.summary()).toMatch(/^R0 FAIL: 0\/0/);
    r.check('a holds', true, '');
    expect(r.summary('stack did not start')).toMatch(/^R0 ERROR: 1\/1 invariants hold, [\d.]+ s — stack did not start$/);
  });

  it('keeps the duration it had when it finished', async () => {
    const r = new ScenarioReport('R0', 'test');
    r.finish();
    const at = r.elapsedMs;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.elapsedMs).toBe(at);
  });
});

describe('ProbeLog', () => {
  const answer = (status: number, body: unknown) => async () => ({ status, body, headers: new Headers() });

  it('counts answers per route and finds the offending ones', async () => {
    const log = new ProbeLog();
    const api = {} as ApiClient;
    const probes = [
      { name: 'GET /health/full', call: answer(503, { status: 'down' }) },
      { name: 'GET /api/x', call: answer(503, { error: { code: 'DEPENDENCY_UNAVAILABLE' } }) },
      { name: 'POST /api/y', call: answer(500, { error: { code: 'INTERNAL' } }) },
      { name: 'POST /webhooks/z', call: async () => Promise.reject(new Error('socket hang up')) },
    ];
    await log.round(api, probes);
    await log.round(api, probes);
    expect(log.total).toBe(8);
    expect(log.lines()).toEqual([
      'GET /health/full: 2× 503 down',
      'GET /api/x: 2× 503 DEPENDENCY_UNAVAILABLE',
      'POST /api/y: 2× 500 INTERNAL',
      'POST /webhooks/z: 2× no answer (socket hang up)',
    ]);
    expect(log.offending((l) => !l.startsWith('503'))).toEqual(['POST /api/y: 2× 500 INTERNAL', 'POST /webhooks/z: 2× no answer (socket hang up)']);
  });
});
