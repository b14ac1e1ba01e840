import type { Request } from 'express';
import type { z, ZodError } from 'zod';
import { AppError, type ErrorDetail } from '../../../lib/errors';

export function zodDetails(err: ZodError): ErrorDetail[] {
  return err.issues.flatMap((i) =>
    // An unknown field is reported at its own path, one detail per field.
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ path: [...i.path, k].map(String).join('.'), message: 'unknown field' }))
      : [{ path: i.path.map(String).join('.'), message: i.message }],
  );
}

/** A value checked against `schema`; VALIDATION_FAILED (400) with a detail per issue otherwise. */
export function parseValue<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const details = zodDetails(result.error).map((d) => ({ ...d, path: d.path ? `${d.path}` : where }));
    throw new AppError('VALIDATION_FAILED', `Invalid ${where}`, { details });
  }
  return result.data;
}

export const parseBody = <S extends z.ZodType>(req: Request, schema: S): z.infer<S> => parseValue(schema, req.body ?? {}, 'body');
export const parseQuery = <S extends z.ZodType>(req: Request, schema: S): z.infer<S> => parseValue(schema, req.query, 'query');
export const parseParams = <S extends z.ZodType>(req: Request, schema: S): z.infer<S> => parseValue(schema, req.params, 'params');
