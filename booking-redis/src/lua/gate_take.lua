-- Takes units of a stock for an order from its gate counter, if that many are left.
-- KEYS: the counter's left, holds, units, synced.
-- ARGV[1]: the order; ARGV[2]: units wanted; ARGV[3]: now (ns); ARGV[4]: now as a score (us,
-- rounded down); ARGV[5]: the hold's end (ns); ARGV[6]: that as a score (us, rounded up);
-- ARGV[7]: how long a given-back entry is remembered (us); ARGV[8]: the order's event;
-- ARGV[9]: a counter set at or before this instant (ns) is due for a rebuild when short.
-- synced is "<set at (ns)> <the stock's event>".
-- Given-back entries are remembered so that a sale landing after its hold lapsed takes the
-- units again (see gate_prelude.lua for the entries).
-- First gives back the units of holds that ended by now (lazy expiry, as the store counts
-- them) and forgets old given-back entries. Then takes the units, never below zero.
-- Returns {'unknown'} when the counter is not set (build it from the store first);
-- {'foreign'} when the stock is not of the order's event (the store refuses the order);
-- {'repeat', left} when the order has units here already (nothing taken);
-- {'short', left}; {'rebuild', left} when short and due for a rebuild: the caller rebuilds it
-- (the instant it was set moves to now, so that concurrent takes do not rebuild it too);
-- {'taken', left after}.
local synced = redis.call('GET', KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 0 or not synced then
  return {'unknown'}
end
if string.match(synced, ' (%S+)$') ~= ARGV[8] then
  return {'foreign'}
end
gate_lapse(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[4], num(tonumber(ARGV[4]) + tonumber(ARGV[7])))
local left = tonumber(redis.call('GET', KEYS[1]))
local held, _, given_back = gate_entry(KEYS[3], ARGV[1])
if held and not given_back then
  return {'repeat', num(left)}
end
local want = tonumber(ARGV[2])
if left < want then
  local set_at, event = string.match(synced, '^(%d+) (%S+)$')
  if le(set_at, ARGV[9]) then
    redis.call('SET', KEYS[4], ARGV[3] .. ' ' .. event)
    return {'rebuild', num(left)}
  end
  return {'short', num(left)}
end
redis.call('DECRBY', KEYS[1], want)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
return {'taken', num(left - want)}
