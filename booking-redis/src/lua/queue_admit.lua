-- Admits the earliest waiting tokens of a room, after forgetting its ended admissions.
-- KEYS: the room's waiting, admitted, users, tokens.
-- ARGV[1]: at most this many; ARGV[2]: the bound on sequences ('+inf', or '(<n>' for below
-- n: time-slot admission); ARGV[3]: now (ns); ARGV[4]: now as a score (us, rounded down);
-- ARGV[5]: the admissions' end (ns); ARGV[6]: that as a score (us, rounded up).
-- Returns {{token, user, token, user, ...} admitted in arrival order, {forgotten tokens}}.
local forgotten = {}
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])) do
  local entry = redis.call('HGET', KEYS[4], token)
  local user, till
  if entry then user, till = string.match(entry, '^(%S+) %d+ (%S+)$') end
  if not till or (till ~= '-' and le(till, ARGV[3])) then
    redis.call('ZREM', KEYS[2], token)
    redis.call('HDEL', KEYS[4], token)
    if user and redis.call('HGET', KEYS[3], user) == token then
      redis.call('HDEL', KEYS[3], user)
    end
    table.insert(forgotten, token)
  end
end
local admitted = {}
local n = tonumber(ARGV[1])
if n > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, n)
  for _, token in ipairs(due) do
    redis.call('ZREM', KEYS[1], token)
    local entry = redis.call('HGET', KEYS[4], token)
    if entry then
      local user, seq = string.match(entry, '^(%S+) (%d+) ')
      redis.call('HSET', KEYS[4], token, user .. ' ' .. seq .. ' ' .. ARGV[5])
      redis.call('ZADD', KEYS[2], ARGV[6], token)
      table.insert(admitted, token)
      table.insert(admitted, user)
    end
  end
end
return {admitted, forgotten}
