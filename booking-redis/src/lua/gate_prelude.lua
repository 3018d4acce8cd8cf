-- Shared by the gate scripts (after the common prelude).
--
-- A counter's units hash maps an order to "<n> <end>" while its units are taken and
-- "<n> <end> back" once they were given back because its hold ended; its holds sorted set
-- scores each entry by when it is due: a taken entry at its hold's end, a given-back one when
-- it may be forgotten.

-- Reads an entry: units, hold end, whether it was given back (nil units for none).
local function gate_entry(units_key, order)
  local entry = redis.call('HGET', units_key, order)
  if not entry then return nil end
  local n, till, back = string.match(entry, '^(%d+) (%d+)( ?%a*)$')
  return n, till, back ~= ''
end

-- Walks the entries due at now (score ARGV now_score): forgets given-back ones whose time is
-- up, and marks taken ones whose hold ended as given back, adding their units to the counter
-- when `left_key` is given (a take) or not (a rebuild from the store, which counted them
-- free). Given-back entries are kept until keep_until (a score).
local function gate_lapse(left_key, holds_key, units_key, now, now_score, keep_until)
  for _, order in ipairs(redis.call('ZRANGEBYSCORE', holds_key, '-inf', now_score)) do
    local n, till, back = gate_entry(units_key, order)
    if not n or back then
      redis.call('ZREM', holds_key, order)
      redis.call('HDEL', units_key, order)
    elseif le(till, now) then
      if left_key then redis.call('INCRBY', left_key, n) end
      redis.call('HSET', units_key, order, n .. ' ' .. till .. ' back')
      redis.call('ZADD', holds_key, keep_until, order)
    end
  end
end
