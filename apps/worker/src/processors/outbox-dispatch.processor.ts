import { dispatchOutbox } from '../../../../domain/outbox/outbox';
import { defineHandler } from './types';

export const outboxDispatchHandler = defineHandler('outbox.dispatch.v1', async (_payload, { deps }) => {
  const published = await dispatchOutbox(deps.db, deps.producer, { now: deps.now(), metrics: deps.metrics, logger: deps.logger });
  return { published };
});
