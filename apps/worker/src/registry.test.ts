import { ALL_JOBS, JOB_QUEUE } from '../../../queue/names';
import { jobPayloadSchemas } from '../../../queue/payloads';
import { HANDLERS, checkHandlers } from './registry';
import { defineHandler, type JobHandler } from './processors/types';

const noop = async (): Promise<void> => undefined;

describe('job handler registry', () => {
  it('has exactly one handler for every job name, a queue and a payload schema for each', () => {
    const map = checkHandlers(HANDLERS);
    expect([...map.keys()].sort()).toEqual([...ALL_JOBS].sort());
    for (const name of ALL_JOBS) {
      expect(JOB_QUEUE[name]).toBeDefined();
      expect(jobPayloadSchemas[name]).toBeDefined();
      expect(name).toMatch(/\.v\d+$/);
    }
  });

  it('refuses a registry with a missing handler', () => {
    const [first, ...rest] = ALL_JOBS;
    const handlers = rest.map((n) => defineHandler(n, noop)) as JobHandler[];
    expect(() => checkHandlers(handlers)).toThrow(`no handler for ${first}`);
  });

  it('refuses two handlers for one job', () => {
    const handlers = [...ALL_JOBS, ALL_JOBS[0]!].map((n) => defineHandler(n, noop)) as JobHandler[];
    expect(() => checkHandlers(handlers)).toThrow(`two handlers for ${ALL_JOBS[0]}`);
  });

  it('refuses a handler for a job name that is not registered', () => {
    const handlers = [...ALL_JOBS.map((n) => defineHandler(n, noop)), { name: 'mystery.v1', process: noop }] as JobHandler[];
    expect(() => checkHandlers(handlers)).toThrow('handler for unknown job mystery.v1');
  });
});
