-- Operators create their team's `oaa_push` keys, and may only grant what they hold
-- (docs/security.md, "You can only grant what you hold"): the built-in operator role now
-- holds oaa:push. Built-in roles are never edited through the API, so the stored list is the
-- old constant.
UPDATE roles SET permissions = permissions || ' oaa:push'
WHERE builtin = 1 AND name = 'operator' AND (' ' || permissions || ' ') NOT LIKE '% oaa:push %';
