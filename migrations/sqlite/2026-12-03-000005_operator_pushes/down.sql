UPDATE roles SET permissions = TRIM(REPLACE(' ' || permissions || ' ', ' oaa:push ', ' '))
WHERE builtin = 1 AND name = 'operator';
