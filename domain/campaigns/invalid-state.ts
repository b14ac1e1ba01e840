import { AppError } from '../../lib/errors';

/** 409 INVALID_STATE naming the campaign's current status (api.md: `details` = current status). */
export function invalidState(status: string, action: string): AppError {
  return new AppError('INVALID_STATE', `Cannot ${action} a campaign that is ${status}`, { details: { status } });
}
