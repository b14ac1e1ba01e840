import { BlockStack, Text } from '@shopify/polaris';
import { num } from '../format';

/** One labelled figure of a message's live counter (characters, encoding, segments, …); "—" until known. */
export function Counter({ label, value, testId }: { label: string; value: number | string | undefined; testId: string }) {
  return (
    <BlockStack gap="050">
      <Text as="span" variant="bodySm" tone="subdued">
        {label}
      </Text>
      <Text as="span" variant="headingSm">
        <span data-testid={testId}>{value === undefined ? '—' : typeof value === 'number' ? num(value) : value}</span>
      </Text>
    </BlockStack>
  );
}
