import { InlineStack, Select } from '@shopify/polaris';

/** A list's status filter, above its table; choosing one starts the list again from its first page (`onChange`). */
export function StatusFilter<S extends string>({ options, value, onChange }: { options: { label: string; value: '' | S }[]; value: '' | S; onChange: (value: '' | S) => void }) {
  return (
    <div style={{ padding: 'var(--p-space-300)' }}>
      <InlineStack gap="300" blockAlign="center">
        <Select label="Status" labelInline options={options} value={value} onChange={(v) => onChange(v as '' | S)} />
      </InlineStack>
    </div>
  );
}
