-- psql 15.18 `\dA` (captured with psql -E against PostgreSQL 15.18)
-- query
SELECT amname AS "Name",
  CASE amtype WHEN 'i' THEN 'Index' WHEN 't' THEN 'Table' END AS "Type"
FROM pg_catalog.pg_am
ORDER BY 1;
