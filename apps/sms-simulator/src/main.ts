import pino from 'pino';
import { loadSimulatorConfig, SimulatorConfigError, type SimulatorConfig } from './config';
import { createSimulator } from './simulator';

// Entry: `tsx apps/sms-simulator/src/main.ts`. One log line on listen and one on
// shutdown; nothing per message, the simulator runs at bulk rates.

async function main(): Promise<void> {
  // It accepts any send and signs delivery reports with a public default
  // secret: a development tool, never part of a production deployment.
  if (process.env.NODE_ENV === 'production') {
    process.stderr.write('sms-simulator: refusing to start with NODE_ENV=production (the simulator is a development tool; use a real SMS provider)\n');
    process.exit(1);
  }
  let config: SimulatorConfig;
  try {
    config = loadSimulatorConfig();
  } catch (err) {
    if (err instanceof SimulatorConfigError) {
      pino().fatal({ problems: err.problems }, err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { service: 'sms-simulator' } });
  const simulator = createSimulator(config);
  const { port } = await simulator.start();
  logger.info(
    {
      port,
      dlrEnabled: config.dlrEnabled,
      // A Mitto-style callback URL carries its secret in the query: never logged.
      dlrUrl: config.dlrEnabled ? config.dlrUrl.split('?')[0] : undefined,
      dlrDelayMs: config.dlrDelayMs,
      dlrBatch: config.dlrBatch,
      deliveredRatio: config.deliveredRatio,
      dedupsByReference: config.dedupsByReference,
    },
    'sms simulator listening',
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, stats: simulator.stats() }, 'sms simulator stopping');
    simulator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'sms simulator stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  pino().fatal({ err }, 'sms simulator failed to start');
  process.exit(1);
});
