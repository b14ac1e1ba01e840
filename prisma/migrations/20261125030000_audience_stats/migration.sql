-- Audience statistics per shop and tag, kept by statement-level triggers on
-- contacts, so campaign enqueue sizes its credit reservation from one indexed
-- row instead of scanning the audience: enqueue latency stays flat from a
-- thousand to a million contacts. Counts are exact; the longest-name lengths
-- only ever grow, which keeps them a safe upper bound for the segment estimate.

-- True when every character is in the GSM 03.38 alphabet (basic set and
-- extension table), i.e. the text does not force UCS-2.
CREATE FUNCTION "gsm7_only"(t TEXT) RETURNS BOOLEAN LANGUAGE SQL IMMUTABLE PARALLEL SAFE AS $$
  SELECT translate(coalesce(t, ''), E'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\f^{}\\[~]|€', '') = ''
$$;

CREATE TABLE "audience_stats" (
    "shop_id" UUID NOT NULL,
    -- '' = every sendable contact of the shop; otherwise one tag.
    "tag" TEXT NOT NULL,
    "contacts" INTEGER NOT NULL DEFAULT 0,
    "max_first_name_length" INTEGER NOT NULL DEFAULT 0,
    "max_last_name_length" INTEGER NOT NULL DEFAULT 0,
    "non_gsm_first_names" INTEGER NOT NULL DEFAULT 0,
    "non_gsm_last_names" INTEGER NOT NULL DEFAULT 0,
    -- No CHECK on the counts: Postgres checks the proposed row of an upsert
    -- (a signed delta) before resolving the conflict, and a statistics row must
    -- never make a contact write (an opt-out, say) fail.
    CONSTRAINT "audience_stats_pkey" PRIMARY KEY ("shop_id", "tag")
);
ALTER TABLE "audience_stats" ADD CONSTRAINT "audience_stats_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The rows a statement changed, signed (-1 removed, +1 added), reduced to the
-- sendable ones and spread over '' and each of their tags, summed per (shop,
-- tag) and added to the statistics. A row whose contribution did not change
-- cancels out; only rows that move a figure are written. Rows are upserted in
-- key order so concurrent statements lock them in the same order. A shop being
-- deleted (its contacts cascade) is skipped: its statistics go with it.
CREATE FUNCTION "contacts_audience_stats"() RETURNS TRIGGER LANGUAGE plpgsql AS $fn$
DECLARE
  src TEXT := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT 1 AS sign, n.* FROM new_rows n'
    WHEN 'DELETE' THEN 'SELECT -1 AS sign, o.* FROM old_rows o'
    ELSE 'SELECT -1 AS sign, o.* FROM old_rows o UNION ALL SELECT 1, n.* FROM new_rows n'
  END;
BEGIN
  EXECUTE 'WITH changed AS (' || src || $q$),
    per_tag AS (
      SELECT c.sign, c.shop_id, t.tag, c.first_name, c.last_name
        FROM changed c
        CROSS JOIN LATERAL (SELECT '' AS tag UNION SELECT DISTINCT x FROM unnest(c.tags) x) t
       WHERE c.sms_consent = 'subscribed' AND c.opted_out_at IS NULL AND c.erased_at IS NULL AND c.phone_e164 IS NOT NULL
    ),
    delta AS (
      SELECT shop_id, tag,
             sum(sign)::int AS contacts,
             coalesce(max(char_length(first_name)) FILTER (WHERE sign > 0), 0)::int AS max_first,
             coalesce(max(char_length(last_name)) FILTER (WHERE sign > 0), 0)::int AS max_last,
             sum(CASE WHEN gsm7_only(first_name) THEN 0 ELSE sign END)::int AS non_gsm_first,
             sum(CASE WHEN gsm7_only(last_name) THEN 0 ELSE sign END)::int AS non_gsm_last
        FROM per_tag GROUP BY shop_id, tag
    )
    INSERT INTO audience_stats AS a (shop_id, tag, contacts, max_first_name_length, max_last_name_length, non_gsm_first_names, non_gsm_last_names)
    SELECT d.shop_id, d.tag, d.contacts, d.max_first, d.max_last, d.non_gsm_first, d.non_gsm_last
      FROM delta d
      LEFT JOIN audience_stats cur ON cur.shop_id = d.shop_id AND cur.tag = d.tag
     WHERE (d.contacts <> 0 OR d.non_gsm_first <> 0 OR d.non_gsm_last <> 0
            OR d.max_first > coalesce(cur.max_first_name_length, -1) OR d.max_last > coalesce(cur.max_last_name_length, -1))
       AND EXISTS (SELECT 1 FROM shops s WHERE s.id = d.shop_id)
     ORDER BY d.shop_id, d.tag
    ON CONFLICT (shop_id, tag) DO UPDATE SET
      contacts = a.contacts + EXCLUDED.contacts,
      max_first_name_length = greatest(a.max_first_name_length, EXCLUDED.max_first_name_length),
      max_last_name_length = greatest(a.max_last_name_length, EXCLUDED.max_last_name_length),
      non_gsm_first_names = a.non_gsm_first_names + EXCLUDED.non_gsm_first_names,
      non_gsm_last_names = a.non_gsm_last_names + EXCLUDED.non_gsm_last_names$q$;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER "contacts_audience_stats_insert" AFTER INSERT ON "contacts"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "contacts_audience_stats"();
CREATE TRIGGER "contacts_audience_stats_update" AFTER UPDATE ON "contacts"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "contacts_audience_stats"();
CREATE TRIGGER "contacts_audience_stats_delete" AFTER DELETE ON "contacts"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "contacts_audience_stats"();

-- Contacts that exist already.
INSERT INTO audience_stats (shop_id, tag, contacts, max_first_name_length, max_last_name_length, non_gsm_first_names, non_gsm_last_names)
SELECT c.shop_id, t.tag, count(*)::int,
       coalesce(max(char_length(c.first_name)), 0)::int, coalesce(max(char_length(c.last_name)), 0)::int,
       count(*) FILTER (WHERE NOT gsm7_only(c.first_name))::int, count(*) FILTER (WHERE NOT gsm7_only(c.last_name))::int
  FROM contacts c
  CROSS JOIN LATERAL (SELECT '' AS tag UNION SELECT DISTINCT x FROM unnest(c.tags) x) t
 WHERE c.sms_consent = 'subscribed' AND c.opted_out_at IS NULL AND c.erased_at IS NULL AND c.phone_e164 IS NOT NULL
 GROUP BY c.shop_id, t.tag;
