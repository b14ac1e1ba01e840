import { parseClusterNodes } from './redis';

describe('REDIS_CLUSTER_NODES', () => {
  it('takes host:port and redis URLs; credentials and TLS from the first URL apply to every node', () => {
    expect(parseClusterNodes('10.0.0.1:7000, 10.0.0.2:7001')).toEqual({ nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], auth: {} });
    expect(parseClusterNodes('rediss://app:s%40cret@redis-a.internal:6380,redis-b.internal:6380')).toEqual({
      nodes: [{ host: 'redis-a.internal', port: 6380 }, { host: 'redis-b.internal', port: 6380 }],
      auth: { username: 'app', password: 's@cret', tls: {} },
    });
    expect(parseClusterNodes('redis://[::1]:7000').nodes).toEqual([{ host: '::1', port: 7000 }]);
  });

  it.each([[''], [' , '], ['localhost'], ['http://x:7000'], ['host:notaport'], ['host:0']])('refuses %j', (value) => {
    expect(() => parseClusterNodes(value)).toThrow();
  });
});
