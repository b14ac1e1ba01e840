import type { RouterOptions } from 'express';

/**
 * Every router matches paths exactly: `/api/Campaigns` and `/api/campaigns/`
 * are not `/api/campaigns` but 404. Express's default (case-insensitive, a
 * trailing slash ignored) let one route be reached under many spellings,
 * each a fresh idempotency scope and metric label. Express 5 routers do not
 * inherit the app's settings: each `Router()` takes these itself.
 */
export const EXACT_ROUTING: RouterOptions = { caseSensitive: true, strict: true };
