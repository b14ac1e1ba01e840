// Runs in every test file before anything is imported: quiet logs, test mode,
// and secrets that the tests sign with.
process.env.NODE_ENV = 'test';
process.env.LOG_LEVEL ??= 'silent';
process.env.SHOPIFY_API_KEY ??= 'test-shopify-key';
process.env.SHOPIFY_API_SECRET ??= 'test-shopify-secret';
process.env.STRIPE_SECRET_KEY ??= 'sk_test_123';
process.env.STRIPE_WEBHOOK_SECRET ??= 'whsec_test_secret';
process.env.SMS_WEBHOOK_SECRET ??= 'test-sms-webhook-secret';
process.env.INTERNAL_SIGNING_SECRET ??= 'test-internal-signing-secret';
// Only the tests that play Shopify (test/fakes/shopify-server.ts) exchange session tokens.
process.env.SHOPIFY_INSTALL_BY_EXCHANGE ??= 'false';
// Only the sync tests let an install start the customer sync (its Admin API calls would meet other tests' fakes).
process.env.SHOPIFY_SYNC_ON_INSTALL ??= 'false';
// The test contacts are New Jersey numbers: with the legal quiet-hours floor
// every sending test would wait for New York's morning. The quiet-hours tests
// turn it on (domain/campaigns/smart-quiet.int.test.ts).
process.env.SMS_QUIET_HOURS_FLOOR ??= 'false';
// The pipeline tests count batches and provider requests of 500 recipients;
// the product default is the provider's bulk maximum (1000).
process.env.SEND_BATCH_SIZE ??= '500';
