import { createStripeClient } from './stripe-client';

describe('createStripeClient', () => {
  it('talks to STRIPE_API_BASE when set: host, port and protocol from the URL', () => {
    const stripe = createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_API_BASE: 'http://127.0.0.1:12111' });
    expect(stripe.getApiField('host')).toBe('127.0.0.1');
    expect(String(stripe.getApiField('port'))).toBe('12111');
    expect(stripe.getApiField('protocol')).toBe('http');
  });

  it('defaults to Stripe itself', () => {
    const stripe = createStripeClient({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_API_BASE: undefined });
    expect(stripe.getApiField('host')).toBe('api.stripe.com');
    expect(stripe.getApiField('protocol')).toBe('https');
  });
});
