import { BlockStack, Button, Card, InlineStack, SkeletonBodyText, Text, TextField } from '@shopify/polaris';
import { useEffect, useState } from 'react';
import { api, ApiError, newIdempotencyKey } from '../api/client';
import { toast } from '../bridge';
import { useApi } from '../hooks';
import { ApiErrorBanner } from './ApiErrorBanner';

/** GET /api/shop/keyword-replies (docs/api.md, "Keyword replies"). */
export interface KeywordReplies {
  stop: { text: string; custom: boolean };
  start: { text: string; custom: boolean };
  help: { text: string; custom: boolean };
  sent: number;
  segments: number;
}

type Key = 'stop' | 'start' | 'help';
const KEYS: { key: Key; label: string; help: string }[] = [
  { key: 'stop', label: 'STOP reply', help: 'Sent once after STOP (and UNSUBSCRIBE, CANCEL, END, QUIT…): must confirm the opt-out, no link.' },
  { key: 'start', label: 'START reply', help: 'Sent after START (UNSTOP, YES): must say "Reply STOP to unsubscribe" and "Msg & data rates may apply".' },
  { key: 'help', label: 'HELP reply', help: 'Sent after HELP (INFO): must say "Reply STOP to unsubscribe" and "Msg & data rates may apply".' },
];

/**
 * The confirmations a STOP, START or HELP text gets, in the shop's words
 * within what carriers require (the api checks and names what is missing, on
 * the field), and how many were sent: never charged to credits.
 */
export function KeywordRepliesCard() {
  const replies = useApi<KeywordReplies>('/shop/keyword-replies');
  const [texts, setTexts] = useState<Record<Key, string>>();
  const [errors, setErrors] = useState<Partial<Record<Key, string>>>({});
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    if (replies.data) setTexts({ stop: replies.data.stop.text, start: replies.data.start.text, help: replies.data.help.text });
  }, [replies.data]);

  const changed = (k: Key): boolean => !!texts && !!replies.data && texts[k] !== replies.data[k].text;
  const dirty = KEYS.some(({ key }) => changed(key));

  // `reset`: back to the default text (null); otherwise the edited texts.
  const save = async (reset?: Key) => {
    if (!texts || saving) return;
    setSaving(true);
    setError(undefined);
    const body: Partial<Record<Key, string | null>> = {};
    if (reset) body[reset] = null;
    else for (const { key } of KEYS) if (changed(key)) body[key] = texts[key];
    try {
      await api<KeywordReplies>('PATCH', '/shop/keyword-replies', { body, idempotencyKey: newIdempotencyKey() });
      setErrors({});
      replies.reload();
      toast(reset ? 'Default reply restored' : 'Replies saved');
    } catch (err) {
      const fields: Partial<Record<Key, string>> = {};
      if (err instanceof ApiError) {
        for (const [path, message] of Object.entries(err.fieldErrors())) if (path === 'stop' || path === 'start' || path === 'help') fields[path] = message;
      }
      setErrors(fields);
      if (Object.keys(fields).length === 0) setError(err);
    } finally {
      setSaving(false);
    }
  };

  return (
    <Card>
      {texts && replies.data ? (
        <BlockStack gap="400">
          {error ? <ApiErrorBanner error={error} onDismiss={() => setError(undefined)} /> : null}
          {KEYS.map(({ key, label, help }) => (
            <BlockStack gap="100" key={key}>
              <TextField
                label={label}
                value={texts[key]}
                onChange={(v) => {
                  setTexts((t) => (t ? { ...t, [key]: v } : t));
                  setErrors((e) => ({ ...e, [key]: undefined }));
                }}
                multiline={2}
                maxLength={320}
                showCharacterCount
                autoComplete="off"
                helpText={`${help} {{shopName}} and {{shopUrl}} are filled in.`}
                error={errors[key]}
              />
              {replies.data![key].custom ? (
                <InlineStack>
                  <Button variant="plain" onClick={() => void save(key)} disabled={saving} accessibilityLabel={`Restore the default ${label}`}>
                    Restore default
                  </Button>
                </InlineStack>
              ) : null}
            </BlockStack>
          ))}
          <InlineStack align="space-between" blockAlign="center">
            <Text as="p" tone="subdued">
              {replies.data.sent.toLocaleString()} replies sent ({replies.data.segments.toLocaleString()} segments), never charged to your credits.
            </Text>
            <Button variant="primary" onClick={() => void save()} disabled={!dirty} loading={saving}>
              Save replies
            </Button>
          </InlineStack>
        </BlockStack>
      ) : replies.error ? (
        <ApiErrorBanner error={replies.error} />
      ) : (
        <SkeletonBodyText lines={6} />
      )}
    </Card>
  );
}
