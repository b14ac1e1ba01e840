import { bucketsBetween, countOf, parseBuckets, quantileOf, shareAtMost } from './histogram';

const scrape = (counts: Record<string, number>, extra = '') =>
  [
    '# HELP http_request_duration_seconds HTTP request latency',
    '# TYPE http_request_duration_seconds histogram',
    ...Object.entries(counts).map(([le, n]) => `http_request_duration_seconds_bucket{le="${le}",method="POST",route="/webhooks/sms/:provider/status",status="200"} ${n}`),
    `http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/campaigns",status="200"} 999`,
    extra,
  ].join('\n');

const isStatus = (labels: string) => labels.includes('route="/webhooks/sms/:provider/status"');

describe('bench histogram', () => {
  it('sums the kept series per bound and takes what was observed between two scrapes', () => {
    const before = parseBuckets(scrape({ '0.025': 10, '0.05': 10, '0.1': 10, '+Inf': 10 }), 'http_request_duration_seconds', isStatus);
    const after = parseBuckets(
      scrape({ '0.025': 60, '0.05': 105, '0.1': 110, '+Inf': 110 }, 'http_request_duration_seconds_bucket{le="0.05",method="POST",route="/webhooks/sms/:provider/status",status="500"} 0'),
      'http_request_duration_seconds',
      isStatus,
    );
    const run = bucketsBetween(before, after);
    expect(countOf(run)).toBe(100);
    expect(shareAtMost(run, 0.05)).toBeCloseTo(0.95);
    // The 50th observation is the last of the first bucket; the 99th is 4/5 into (0.05, 0.1].
    expect(quantileOf(run, 0.5)).toBeCloseTo(0.025);
    expect(quantileOf(run, 0.99)).toBeCloseTo(0.09);
  });

  it('an empty run has no quantile and nothing over the bound; a bound that is not a bucket is refused', () => {
    const none = bucketsBetween(new Map([[Infinity, 3]]), new Map([[0.05, 3], [Infinity, 3]]));
    expect(countOf(none)).toBe(0);
    expect(quantileOf(none, 0.99)).toBeNaN();
    expect(shareAtMost(none, 0.05)).toBe(1);
    expect(() => shareAtMost(none, 0.04)).toThrow(/bucket bound/);
  });

  it('a quantile past the last finite bound is that bound', () => {
    expect(quantileOf(new Map([[0.1, 1], [5, 1], [Infinity, 100]]), 0.99)).toBe(5);
  });
});
