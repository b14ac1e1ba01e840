import type { Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { parseBody, parseParams, parseQuery } from '../validation';

type Out<S> = S extends z.ZodType ? z.infer<S> : undefined;

export interface RouteSpec<P, B, Q> {
  params?: P;
  body?: B;
  query?: Q;
  /**
   * Middleware run after validation and before the handler, in order, e.g.
   * `[shedWhenOverloaded(…), idempotency(deps, { required: true })]`: a request
   * that fails its schema is answered 400 before any of them runs.
   */
  use?: RequestHandler[];
}

export interface RouteInput<P, B, Q> {
  params: Out<P>;
  body: Out<B>;
  query: Out<Q>;
}

/**
 * A route's handler chain: validate → `use` → handler. The handler receives
 * the parsed, typed input. Spread it into the router:
 * `router.post('/campaigns', ...validated({ body }, async ({ body }, req, res) => …))`.
 */
export function validated<
  P extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
>(
  spec: RouteSpec<P, B, Q>,
  handler: (input: RouteInput<P, B, Q>, req: Request, res: Response) => Promise<void> | void,
): RequestHandler[] {
  const validate: RequestHandler = (req, res, next) => {
    res.locals.input = {
      params: spec.params ? parseParams(req, spec.params) : undefined,
      body: spec.body ? parseBody(req, spec.body) : undefined,
      query: spec.query ? parseQuery(req, spec.query) : undefined,
    };
    next();
  };
  const run: RequestHandler = async (req, res) => {
    await handler(res.locals.input as RouteInput<P, B, Q>, req, res);
  };
  return [validate, ...(spec.use ?? []), run];
}
