import { sendTimeCheck } from '../compliance/send-time';

// A flow send step's quiet hours: the shop's window in the recipient's zones
// and the US/CA floor in theirs. The search, bounded so that a recipient the
// two never leave an instant gets `never` and the step ends instead of being
// deferred forever, is shared with campaign batches: compliance/send-time.ts.

export { firstSendTime, SEND_TIME_HORIZON_MS, type SendTime } from '../compliance/send-time';

/** The send paths' check (send-time.ts), by the name flows call it: one answer per set of zones, so a claim's runs share the work. */
export const flowSendTimeCheck = sendTimeCheck;
