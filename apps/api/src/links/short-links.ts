import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { ClickBuffer } from '../../../../domain/links/click-buffer';
import type { ClickRecord } from '../../../../domain/links/record-clicks';
import { withUtm } from '../../../../domain/links/destination';
import { CODE_LENGTH, flowMessageOfRecipient, parseLinkCode, trackedLinksOf, type LinkTarget } from '../../../../domain/links/link-code';
import { LinkNumberCache, type CampaignLinks, type FlowVersionLinks, type NumberedLinks } from '../../../../domain/links/link-number-cache';
import { classifyFetcher, type Fetcher } from '../../../../domain/links/user-agent-class';
import type { ApiDeps } from '../deps';
import { addressBudgetKey } from './address-budget-key';

/**
 * What the link route reads of a request: node's own, plus the path (no
 * query) and the client address, which Express works out for the api and the
 * links process's bare server (links-app.ts) for itself.
 */
export type LinkRequest = IncomingMessage & { path: string; ip?: string | undefined };
/** Answers a link request, or calls `next` when the path is not a link; mountable in Express as is. */
export type LinkHandler = (req: LinkRequest, res: ServerResponse, next: () => void) => void;

export interface ShortLinks {
  /** The route template (`/:code`, or `<path of PUBLIC_LINK_BASE>/:code`), for GET (and so HEAD). */
  path: string;
  handler: LinkHandler;
  clicks: ClickBuffer;
}

const NOT_FOUND_BODY = 'Not found\n';
const RATE_LIMITED_BODY = 'Too many requests\n';
const UNAVAILABLE_BODY = 'Service unavailable\n';
const INTERNAL_BODY = 'Internal error\n';

/** The click buffer of an app made by createApp (server.ts flushes it on shutdown; tests flush it to read clicks). */
export function clickBufferOf(app: { locals: Record<string, unknown> }): ClickBuffer {
  const b = app.locals.clickBuffer;
  if (!(b instanceof ClickBuffer)) throw new Error('this app has no click buffer');
  return b;
}

/**
 * `GET|HEAD <PUBLIC_LINK_BASE path>/<code>`: the lean path, the app's first
 * route, ahead of every middleware (no request context, logging, session,
 * body or per-route metrics): verify the code's signature (one HMAC, no I/O), find
 * the links of the campaign or flow version it names (in memory after its
 * first click; a flow code also names the step), answer 302 to the
 * link with its UTM parameters, and buffer the click (ClickBuffer): no
 * database write, and no read once the campaign is cached.
 *
 * A code that is not ours gets 404 with a constant body, after the same
 * work as any well-formed code; a client IP that keeps sending them gets
 * 429 (LINK_MISSES_PER_IP_PER_MIN), which makes guessing codes pointless
 * (~2^35.7 tags per recipient and link). A valid code always redirects (many
 * phones share one carrier IP), but each IP records at most
 * LINK_CLICKS_PER_IP_PER_MIN clicks.
 */
export function shortLinks(deps: Pick<ApiDeps, 'config' | 'db' | 'metrics' | 'logger' | 'now'>): ShortLinks {
  const links = trackedLinksOf(deps.config);
  const prefix = new URL(links.base).pathname.replace(/\/+$/, '');
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/([0-9A-Za-z]{${CODE_LENGTH}})$`);
  // With a path of its own, every request just under it is a link request.
  const underPrefix = prefix === '' ? null : `${prefix}/`;
  const cache = new LinkNumberCache(deps.db);
  const clicks = new ClickBuffer(deps.db, { metrics: deps.metrics, logger: deps.logger }).start();
  const misses = new RateLimiterMemory({ points: deps.config.LINK_MISSES_PER_IP_PER_MIN, duration: 60 });
  const clickBudget = new RateLimiterMemory({ points: deps.config.LINK_CLICKS_PER_IP_PER_MIN, duration: 60 });
  const medium = deps.config.LINK_UTM_MEDIUM;
  const { metrics } = deps;

  const answer = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(body);
  };

  const notFound = (req: LinkRequest, res: ServerResponse): void => {
    misses.consume(addressBudgetKey(req.ip)).then(
      () => {
        metrics.linkRedirects.inc({ outcome: 'not_found' });
        answer(res, 404, NOT_FOUND_BODY);
      },
      () => {
        metrics.linkRedirects.inc({ outcome: 'rate_limited' });
        res.setHeader('Retry-After', '60');
        answer(res, 429, RATE_LIMITED_BODY);
      },
    );
  };

  // Destinations never change (a sent campaign's body, a flow version): built once per cached entry.
  const destinations = new WeakMap<CampaignLinks, string[]>();
  const destinationOf = (campaign: CampaignLinks, index: number): string | undefined => {
    let d = destinations.get(campaign);
    if (!d) {
      d = campaign.urls.map((url) => withUtm(url, { medium, campaign: campaign.campaignId }));
      destinations.set(campaign, d);
    }
    return d[index];
  };
  // utm_campaign is the flow's id, as a campaign's is the campaign's id.
  const flowDestinations = new WeakMap<FlowVersionLinks, string[][]>();
  const flowDestinationOf = (flow: FlowVersionLinks, step: number, index: number): string | undefined => {
    let d = flowDestinations.get(flow);
    if (!d) {
      d = flow.steps.map((urls) => urls.map((url) => withUtm(url, { medium, campaign: flow.flowId })));
      flowDestinations.set(flow, d);
    }
    return d[step]?.[index];
  };

  const answerRedirect = (req: LinkRequest, res: ServerResponse, location: string): Fetcher => {
    res.writeHead(302, { Location: location, 'Cache-Control': 'private, no-store', 'Content-Length': 0, 'Referrer-Policy': 'no-referrer' });
    res.end();
    metrics.linkRedirects.inc({ outcome: 'redirected' });
    return classifyFetcher(req.method ?? 'GET', req.headers);
  };

  const buffer = (req: LinkRequest, click: ClickRecord): void => {
    clickBudget.consume(addressBudgetKey(req.ip)).then(
      () => clicks.add(click),
      () => metrics.linkClicksDropped.inc({ reason: 'ip_budget' }),
    );
  };

  const redirect = (req: LinkRequest, res: ServerResponse, target: LinkTarget, owner: NumberedLinks): void => {
    if (owner.kind === 'campaign') {
      const location = destinationOf(owner, target.index);
      if (location === undefined) return notFound(req, res);
      const fetcher = answerRedirect(req, res, location);
      return buffer(req, {
        id: randomUUID(),
        campaignId: owner.campaignId,
        recipientId: target.recipientId,
        linkIndex: target.index,
        clickedAt: deps.now(),
        uaClass: fetcher.uaClass,
        bot: fetcher.bot,
      });
    }
    const { messageId, step } = flowMessageOfRecipient(target.recipientId);
    const location = flowDestinationOf(owner, step, target.index);
    if (location === undefined || messageId < 1) return notFound(req, res);
    const fetcher = answerRedirect(req, res, location);
    buffer(req, {
      id: randomUUID(),
      campaignId: null,
      recipientId: messageId,
      flow: { versionId: owner.versionId, step },
      linkIndex: target.index,
      clickedAt: deps.now(),
      uaClass: fetcher.uaClass,
      bot: fetcher.bot,
    });
  };

  const handler: LinkHandler = (req, res, next) => {
    const m = pattern.exec(req.path);
    if (!m) {
      if (underPrefix !== null && req.path.startsWith(underPrefix)) return notFound(req, res);
      // Not a link (`/health`, `/Health`…): it never matched this route, so
      // its metrics label must not say it did (route-template.ts).
      (req as { route?: unknown }).route = undefined;
      return next();
    }
    const target = parseLinkCode(links.signingKey, m[1] as string);
    if (!target) return notFound(req, res);
    const cached = cache.peek(target.linkNo);
    if (cached !== undefined) return cached ? redirect(req, res, target, cached) : notFound(req, res);
    cache
      .get(target.linkNo)
      .then(
        (owner) => (owner ? redirect(req, res, target, owner) : notFound(req, res)),
        (err: unknown) => {
          deps.logger.warn({ err }, 'short link: link number lookup failed');
          answer(res, 503, UNAVAILABLE_BODY);
        },
      )
      // A throw while answering after the read is no caller's to catch: left
      // alone it was an unhandled rejection (a hung request, a dead process).
      .catch((err: unknown) => {
        deps.logger.error({ err }, 'short link: answering failed');
        if (!res.headersSent) answer(res, 500, INTERNAL_BODY);
        else res.destroy();
      });
  };

  return { path: `${prefix}/:code`, handler, clicks };
}
