import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { APP_SCOPES, SHOPIFY_API_VERSION } from '../domain/shops/access-token/shopify-app';
import { handledTopics } from '../domain/webhooks/handlers';
import { checkShopifyBody } from '../domain/webhooks/shopify-payloads';
import { parseTomlSubset, type TomlTable } from './toml-subset';

// shopify.app.toml is what Shopify installs and delivers from: it must
// subscribe exactly the topics the code handles (a handled topic that is not
// subscribed never arrives; a subscribed topic with no handler is traffic
// for nothing), with the scopes the code asks for.

const COMPLIANCE = ['customers/data_request', 'customers/redact', 'shop/redact'];
const toml = parseTomlSubset(readFileSync(join(__dirname, '..', 'shopify.app.toml'), 'utf8'));
const subscriptions = ((toml.webhooks as TomlTable).subscriptions ?? []) as TomlTable[];
const topicsOf = (key: 'topics' | 'compliance_topics'): string[] => subscriptions.flatMap((s) => (s[key] as string[] | undefined) ?? []);

describe('shopify.app.toml', () => {
  it('is an embedded app on Shopify managed installation with the scopes the code requests', () => {
    expect(toml.embedded).toBe(true);
    const scopes = toml.access_scopes as TomlTable;
    expect(scopes.use_legacy_install_flow).toBe(false);
    expect(String(scopes.scopes).split(',')).toEqual([...APP_SCOPES]);
    expect((toml.webhooks as TomlTable).api_version).toBe(SHOPIFY_API_VERSION);
  });

  it('subscribes every topic the code handles, and nothing else', () => {
    const subscribed = [...topicsOf('topics'), ...topicsOf('compliance_topics')];
    expect(new Set(subscribed).size).toBe(subscribed.length);
    expect([...subscribed].sort()).toEqual([...handledTopics('shopify')].sort());
  });

  it('subscribes the mandatory compliance topics as compliance topics', () => {
    expect([...topicsOf('compliance_topics')].sort()).toEqual(COMPLIANCE);
    expect(topicsOf('topics').filter((t) => COMPLIANCE.includes(t))).toEqual([]);
  });

  it('delivers every subscription to the Shopify webhook route', () => {
    expect(subscriptions.length).toBeGreaterThan(0);
    for (const s of subscriptions) expect(new URL(String(s.uri)).pathname).toBe('/webhooks/shopify');
  });

  it('every subscribed topic has a body schema (the route stores only bodies its topic accepts)', () => {
    for (const topic of [...topicsOf('topics'), ...topicsOf('compliance_topics')]) expect(checkShopifyBody(topic, {}).known).toBe(true);
  });
});

describe('the TOML reader', () => {
  it('reads tables, arrays of tables, multi-line arrays and comments, and refuses what it does not know', () => {
    const t = parseTomlSubset('a = "x # not a comment" # comment\n[b]\nc = true\n[[b.d]]\ne = [\n "1",\n "2", # two\n]\n[[b.d]]\ne = []\n');
    expect(t).toEqual({ a: 'x # not a comment', b: { c: true, d: [{ e: ['1', '2'] }, { e: [] }] } });
    expect(() => parseTomlSubset('a = 1.5')).toThrow(/unsupported value/);
    expect(() => parseTomlSubset('a = 1\na = 2')).toThrow(/duplicate key/);
    expect(() => parseTomlSubset('just text')).toThrow(/not a key = value/);
  });
});
