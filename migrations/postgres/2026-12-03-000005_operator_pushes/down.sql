UPDATE roles SET permissions = TRIM(REPLACE(' ' || permissions || ' ', ' oaa:push ', ' '))
WHERE builtin = TRUE AND name = 'operator';
