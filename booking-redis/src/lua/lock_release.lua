-- Compare-and-delete: frees every key of a lease that still carries its token.
-- KEYS: the lease's lock keys. ARGV[1]: its token; ARGV[2]: now (ns).
-- Returns 0, or i: the first key that another grant holds, or whose lease had ended by now
-- (still freed when it carried the token: it was free anyway).
local lost = 0
for i = 1, #KEYS do
  local held = redis.call('GET', KEYS[i])
  local token, till
  if held then token, till = string.match(held, '^(%d+) (%d+)$') end
  if token == ARGV[1] then
    redis.call('DEL', KEYS[i])
    if lost == 0 and le(till, ARGV[2]) then lost = i end
  elseif lost == 0 then
    lost = i
  end
end
return lost
