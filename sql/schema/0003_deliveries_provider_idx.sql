-- 0003_deliveries_provider_idx.sql — one index fewer on deliveries.
--
-- deliveries_provider_idx (provider_id, created_at) served nothing that
-- deliveries_provider_id_idx (provider_id, id) does not (ids grow with
-- created_at; the lists order by id), and every delivery is written three
-- times (inserted, claimed, recorded), each time into every index: make
-- bench's profile of the outbox puts its time in those writes.
--
-- Applied by the migrator inside one transaction (no BEGIN/COMMIT here).
-- Forward-only: never edit this file once applied; add 0004_... instead.

DROP INDEX deliveries_provider_idx;
