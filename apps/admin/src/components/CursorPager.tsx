import { InlineStack, Pagination } from '@shopify/polaris';
import type { Dispatch, SetStateAction } from 'react';

/**
 * Previous/next over the API's opaque cursors: the stack holds the cursor of
 * every page before the current one, so "previous" needs no cursor of its own.
 */
export function CursorPager({ cursors, setCursors, nextCursor }: { cursors: string[]; setCursors: Dispatch<SetStateAction<string[]>>; nextCursor: string | null | undefined }) {
  return (
    <div style={{ padding: 'var(--p-space-300)' }}>
      <InlineStack align="center">
        <Pagination
          hasPrevious={cursors.length > 0}
          onPrevious={() => setCursors((c) => c.slice(0, -1))}
          hasNext={Boolean(nextCursor)}
          onNext={() => nextCursor && setCursors((c) => [...c, nextCursor])}
        />
      </InlineStack>
    </div>
  );
}
