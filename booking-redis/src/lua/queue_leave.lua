-- Removes a token from its room, waiting or admitted.
-- KEYS: the room's waiting, admitted, users, tokens. ARGV[1]: the token.
-- Returns 1 if the room knew the token, 0 otherwise (leaving twice is no error).
local entry = redis.call('HGET', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not entry then
  return 0
end
redis.call('HDEL', KEYS[4], ARGV[1])
local user = string.match(entry, '^(%S+) ')
if user and redis.call('HGET', KEYS[3], user) == ARGV[1] then
  redis.call('HDEL', KEYS[3], user)
end
return 1
