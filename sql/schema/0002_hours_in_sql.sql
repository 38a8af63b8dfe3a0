-- 0002: opening hours are parsed in SQL only (careline_hours_spans,
-- sql/functions/util.sql; docs/DECISIONS.md "One grammar for opening hours").

-- careline_provider_save computes the spans itself: the daemon no longer
-- passes them (p_hours goes).
DROP FUNCTION IF EXISTS careline_provider_save(text, bigint, jsonb, jsonb, text);

-- Volunteers' availability is written in the same grammar as providers'
-- opening hours; careline_volunteer_sync parses it and refuses what it
-- cannot read, so the column keeps only a bound on its length.
ALTER TABLE volunteers DROP CONSTRAINT volunteers_availability_check;
ALTER TABLE volunteers ADD CONSTRAINT volunteers_availability_check
    CHECK (char_length(availability) BETWEEN 1 AND 256);
