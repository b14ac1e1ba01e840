import { AppError } from '../../lib/errors';

/** 409 INVALID_STATE naming the flow's current status (api.md: `details.status`). */
export function flowInvalidState(status: string, action: string, extra: Record<string, unknown> = {}): AppError {
  return new AppError('INVALID_STATE', `Cannot ${action} a flow that is ${status}`, { details: { status, ...extra } });
}

export function flowNotReady(problems: { path: string; message: string }[]): AppError {
  return new AppError('VALIDATION_FAILED', 'The flow cannot start runs yet', { details: problems });
}
