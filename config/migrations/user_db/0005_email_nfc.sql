-- Email addresses are kept in Unicode NFC: the users service normalises every address it
-- is given, so that a precomposed and a decomposed spelling are one address. This brings
-- rows written before that into NFC. Where two rows are one address in different
-- spellings, the NFC row (or else the oldest) gets the NFC spelling and the others keep
-- theirs: still there by id, but no longer reachable by login, for an operator to merge.
UPDATE users u
   SET email = normalize(u.email, NFC)
 WHERE u.email IS NOT NFC NORMALIZED
   AND NOT EXISTS (
       SELECT 1 FROM users o
        WHERE o.id <> u.id
          AND lower(normalize(o.email, NFC)) = lower(normalize(u.email, NFC))
          AND (o.email IS NFC NORMALIZED OR (o.created_at, o.id) < (u.created_at, u.id)));
