-- Sets a stock's gate counter to what the store has available.
-- KEYS: the counter's left, holds, units, synced.
-- ARGV[1]: units the store has available at now; ARGV[2]: now (ns); ARGV[3]: now as a score
-- (us, rounded down); ARGV[4]: 'init' (only if the counter is not set) or 'reset';
-- ARGV[5]: how long a given-back entry is remembered (us); ARGV[6]: the stock's event.
-- Taken entries whose hold ended by now become given-back ones without adding to the counter
-- (the store counted them free); taken entries still running stay, to come back when they end.
-- Returns 1 when it set the counter, 0 when 'init' found it set.
if ARGV[4] == 'init' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
gate_lapse(false, KEYS[2], KEYS[3], ARGV[2], ARGV[3], num(tonumber(ARGV[3]) + tonumber(ARGV[5])))
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. ARGV[6])
return 1
