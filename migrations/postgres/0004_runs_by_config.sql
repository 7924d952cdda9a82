-- Cells find their runs by config hash (a sweep's cells, the dashboard's sweep list); the
-- unique index on config_hash is partial, so it cannot serve those joins.
CREATE INDEX runs_by_config ON runs (config_hash);
