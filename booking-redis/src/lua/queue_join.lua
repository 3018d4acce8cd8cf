-- Puts a user in line, or finds the place they already have.
-- KEYS: the room's seq, waiting, admitted, users, tokens.
-- ARGV[1]: the user; ARGV[2]: a fresh token, used if the user needs a new place; ARGV[3]:
-- now (ns).
-- tokens maps a token to "<user> <sequence> <admission end, or - while waiting>".
-- A user who is waiting, or admitted until after now, keeps their token; one whose admission
-- ended is forgotten and joins at the back with the fresh token.
-- Returns {token, sequence, position (1-based, 0 once admitted), admission end or false,
-- forgotten token or false}.
local user, now = ARGV[1], ARGV[3]
local forgotten = false
local live = redis.call('HGET', KEYS[4], user)
if live then
  local entry = redis.call('HGET', KEYS[5], live)
  if entry then
    local seq, till = string.match(entry, '^%S+ (%d+) (%S+)$')
    if till == '-' then
      return {live, seq, (redis.call('ZRANK', KEYS[2], live) or -1) + 1, false, false}
    elseif not le(till, now) then
      return {live, seq, 0, till, false}
    end
    redis.call('HDEL', KEYS[5], live)
    redis.call('ZREM', KEYS[3], live)
  end
  forgotten = live
end
local token = ARGV[2]
local seq = num(redis.call('INCR', KEYS[1]) - 1)
redis.call('ZADD', KEYS[2], seq, token)
redis.call('HSET', KEYS[4], user, token)
redis.call('HSET', KEYS[5], token, user .. ' ' .. seq .. ' -')
return {token, seq, redis.call('ZRANK', KEYS[2], token) + 1, false, forgotten}
