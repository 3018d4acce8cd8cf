-- Takes every lock key under one new fencing token, or none.
-- KEYS[1]: the scope's fencing counter; KEYS[2..]: the lock keys.
-- ARGV[1]: now (ns); ARGV[2]: the lease's end (ns); ARGV[3]: real-time expiry (ms, a
-- garbage-collection bound no shorter than the lease); ARGV[4]: how long the counter is kept (ms).
-- A key is free when absent or when the lease stored in it ended at or before now.
-- Value of a held key: "<token> <end>".
-- Returns {0, i}: the i-th lock key is held (nothing taken); {1, token}: all taken.
local now = ARGV[1]

-- Whether the i-th key is held by a lease that has not ended.
local function held(i)
  local value = redis.call('GET', KEYS[i])
  if not value then return false end
  local till = string.match(value, '^%d+ (%d+)$')
  return not till or not le(till, now)
end

if #KEYS == 2 then
  -- One key: SET NX, and only when the key exists, a look at whether its lease ended.
  local token = next_token(KEYS[1], ARGV[4])
  local value = token .. ' ' .. ARGV[2]
  if redis.call('SET', KEYS[2], value, 'NX', 'PX', ARGV[3]) then
    return {1, token}
  end
  if held(2) then
    return {0, 1}
  end
  redis.call('SET', KEYS[2], value, 'PX', ARGV[3])
  return {1, token}
end

for i = 2, #KEYS do
  if held(i) then
    return {0, i - 1}
  end
end
local token = next_token(KEYS[1], ARGV[4])
local value = token .. ' ' .. ARGV[2]
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], value, 'PX', ARGV[3])
end
return {1, token}
