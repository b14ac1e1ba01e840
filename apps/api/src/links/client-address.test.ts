import type { IncomingMessage } from 'node:http';
import { clientAddress } from './client-address';

const request = (forwardedFor: string | undefined): IncomingMessage =>
  ({ socket: { remoteAddress: '10.0.0.1' }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } }) as unknown as IncomingMessage;

describe('the client behind proxies', () => {
  it.each([
    ['one proxy: the address it appended, whatever the client wrote before it', '6.6.6.6, 203.0.113.7', 1, '203.0.113.7'],
    ['two proxies: the entry the outer one appended', '6.6.6.6, 203.0.113.7, 10.0.0.2', 2, '203.0.113.7'],
    ['more hops than entries: the left-most there is', '203.0.113.7', 3, '203.0.113.7'],
    ['blank entries are no address', ' , 203.0.113.7 ,', 1, '203.0.113.7'],
    ['an empty header: the socket', '', 1, '10.0.0.1'],
    ['no header: the socket', undefined, 1, '10.0.0.1'],
    ['no proxy trusted: the socket, whatever the header says', '203.0.113.7', 0, '10.0.0.1'],
  ])('%s', (_what, header, hops, client) => {
    expect(clientAddress(request(header), hops)).toBe(client);
  });
});
