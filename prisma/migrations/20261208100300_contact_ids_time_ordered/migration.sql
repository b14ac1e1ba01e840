-- New contacts get time-ordered ids (UUID version 7, RFC 9562: 48 bits of
-- Unix milliseconds, then random bits). Everything a campaign does is in
-- contact-id order — the launch's keyset chunks, batch numbers, the send
-- slots' primary key — while the contacts heap is in insertion order. With
-- random (version 4) ids each recipient of a batch was on a page of its own:
-- a 1 000-recipient claim read ~1 000 contact pages (~960 of them outside
-- shared_buffers on a 1 M shop), and every slot upsert and recipient insert
-- landed on a random index leaf. With version 7, ids and heap agree: a batch
-- of contacts created together reads a few dozen pages. Existing contacts
-- keep their ids. An id now tells when the contact was created (to the
-- millisecond), which the API already returns as createdAt.
CREATE FUNCTION uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  -- A version 4 UUID with its first 48 bits replaced by the epoch milliseconds
  -- and its version nibble turned from 0100 into 0111.
  SELECT encode(
           set_bit(set_bit(
             overlay(uuid_send(gen_random_uuid())
                     placing substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                     FROM 1 FOR 6),
             52, 1), 53, 1),
           'hex')::uuid
$$;

ALTER TABLE "contacts" ALTER COLUMN "id" SET DEFAULT uuid_v7();
