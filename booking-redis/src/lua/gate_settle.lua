-- Changes one order's units at a stock's gate counter after the store changed them.
-- KEYS: the counter's left, holds, units.
-- ARGV[1]: the step; ARGV[2]: the order ('' for restock); ARGV[3]: units; ARGV[4]: the hold's
-- new end (ns, extend only); ARGV[5]: that as a score (us, rounded up).
-- 'release': the hold ended early (it was cancelled, or the store refused it): up to ARGV[3]
--   of its units come back (all of them, unless the store said it had fewer: units the store
--   does not have are dropped), unless they came back already when it lapsed.
-- 'sold': the units are sold: the entry goes without giving units back; if they had been
--   given back when the hold lapsed, the counter loses them again, never going below zero.
-- 'extend': the hold ends later.
-- 'restock': units are on sale again (a refund).
-- An order the counter does not know, or a counter that is not set, changes nothing.
-- Returns 1 when the counter or the entry changed, else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local step = ARGV[1]
if step == 'restock' then
  redis.call('INCRBY', KEYS[1], ARGV[3])
  return 1
end
local n, _, given_back = gate_entry(KEYS[3], ARGV[2])
if not n then
  return 0
end
if step == 'extend' then
  if given_back then return 0 end
  redis.call('HSET', KEYS[3], ARGV[2], n .. ' ' .. ARGV[4])
  redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[2])
  return 1
end
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
if step == 'release' then
  if not given_back then
    redis.call('INCRBY', KEYS[1], math.min(tonumber(n), tonumber(ARGV[3])))
  end
  return 1
elseif step == 'sold' then
  if given_back then
    local after = tonumber(redis.call('GET', KEYS[1])) - tonumber(n)
    if after < 0 then after = 0 end
    redis.call('SET', KEYS[1], num(after))
  end
  return 1
end
return redis.error_reply('unknown gate step')
