import { forwardedClient } from './forwarded-client';

describe('the client behind proxies', () => {
  it.each([
    ['one proxy: the address it appended, whatever the client wrote before it', '6.6.6.6, 203.0.113.7', 1, '203.0.113.7'],
    ['two proxies: the entry the outer one appended', '6.6.6.6, 203.0.113.7, 10.0.0.2', 2, '203.0.113.7'],
    ['more hops than entries: the left-most there is', '203.0.113.7', 3, '203.0.113.7'],
    ['blank entries are no address', ' , 203.0.113.7 ,', 1, '203.0.113.7'],
    ['an empty header: the socket', '', 1, '10.0.0.1'],
  ])('%s', (_what, header, hops, client) => {
    expect(forwardedClient('10.0.0.1', header, hops)).toBe(client);
  });
});
