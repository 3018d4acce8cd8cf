-- Moves a holder's coupon for an order (reserve, commit or release).
-- KEYS: the campaign, its states, its issued-at. ARGV[1]: the user; ARGV[2]: the state the
-- step moves from; ARGV[3]: the state it moves to.
-- Moves only from ARGV[2]; any other state is left as it is.
-- Returns {'missing'}; {'not_issued'}; {'ok', state after, issued at, code}: the caller
-- compares the state after with ARGV[3] (a repeat of the step finds it there already).
local code = redis.call('HGET', KEYS[1], 'code')
if not code then
  return {'missing'}
end
local state = redis.call('HGET', KEYS[2], ARGV[1])
if not state then
  return {'not_issued'}
end
if state == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  state = ARGV[3]
end
return {'ok', state, redis.call('HGET', KEYS[3], ARGV[1]), code}
