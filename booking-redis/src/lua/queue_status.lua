-- Where a token stands.
-- KEYS: the room's waiting, tokens. ARGV[1]: the token.
-- Returns false for a token the room does not know, else {user, sequence, position (1-based,
-- 0 once admitted), admission end or false}.
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then
  return false
end
local user, seq, till = string.match(entry, '^(%S+) (%d+) (%S+)$')
if till == '-' then
  return {user, seq, (redis.call('ZRANK', KEYS[1], ARGV[1]) or -1) + 1, false}
end
return {user, seq, 0, till}
