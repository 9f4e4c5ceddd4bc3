-- psql 15.18 `\dconfig password*` (captured with psql -E against PostgreSQL 15.18)
-- query
SELECT s.name AS "Parameter", pg_catalog.current_setting(s.name) AS "Value"
FROM pg_catalog.pg_settings s
WHERE pg_catalog.lower(s.name) OPERATOR(pg_catalog.~) '^(password.*)$' COLLATE pg_catalog.default
ORDER BY 1;
