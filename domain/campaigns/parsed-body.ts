import { AppError } from '../../lib/errors';
import { parseTemplate, type ParsedTemplate } from '../messaging/template';

/** A stored body is valid (the request schema checked it); this only guards the invariant. */
export function parsedBody(body: string): ParsedTemplate {
  const parsed = parseTemplate(body);
  if (!parsed.ok) {
    throw new AppError('VALIDATION_FAILED', 'Campaign body is not a valid template', {
      details: parsed.errors.map((e) => ({ path: 'body', message: e.message })),
    });
  }
  return parsed.template;
}
