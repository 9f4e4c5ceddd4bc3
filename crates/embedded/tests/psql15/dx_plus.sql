-- psql 15.18 `\dx+` (captured with psql -E against PostgreSQL 15.18)
-- query
SELECT e.extname, e.oid
FROM pg_catalog.pg_extension e
ORDER BY 1;
