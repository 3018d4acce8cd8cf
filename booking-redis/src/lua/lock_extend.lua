-- Moves the end of a lease on every one of its keys, or on none (compare-and-PEXPIRE: the
-- stored end moves with the real-time expiry).
-- KEYS: the lease's lock keys. ARGV[1]: its token; ARGV[2]: now (ns); ARGV[3]: the new end
-- (ns); ARGV[4]: real-time expiry (ms).
-- Returns 0, or i: the i-th key no longer carries the token or its lease ended by now.
for i = 1, #KEYS do
  local held = redis.call('GET', KEYS[i])
  local token, till
  if held then token, till = string.match(held, '^(%d+) (%d+)$') end
  if token ~= ARGV[1] or le(till, ARGV[2]) then
    return i
  end
end
local value = ARGV[1] .. ' ' .. ARGV[3]
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], value, 'XX', 'PX', ARGV[4])
end
return 0
