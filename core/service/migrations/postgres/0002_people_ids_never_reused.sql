-- The SQLite schema's 0002 (people's ids never reused). Here `people.id` is GENERATED ALWAYS AS IDENTITY since
-- 0001: a sequence never hands out a number twice, deleted or not, so there is nothing to change.
SELECT 1;
