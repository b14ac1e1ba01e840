/**
 * How a claw-back of `claim` credits is taken: first from the credits a
 * dispute's hold keeps (they were set aside for this), then from what is free;
 * never from other campaigns' reservations. What neither covers is the
 * shortfall, collected as reservations are released.
 */
export function clawBackSplit(claim: number, held: number, available: number): { fromHold: number; fromAvailable: number; clawedBack: number; shortfall: number } {
  const fromHold = Math.min(claim, held);
  const fromAvailable = Math.max(0, Math.min(claim - fromHold, available));
  const clawedBack = fromHold + fromAvailable;
  return { fromHold, fromAvailable, clawedBack, shortfall: claim - clawedBack };
}
