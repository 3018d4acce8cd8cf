-- Issues a user one coupon while the budget lasts and issuance is open, once per user.
-- KEYS: the campaign, its states, its issued-at. ARGV[1]: the user; ARGV[2]: now (ns).
-- states maps each holder to "issued", "reserved:<order>" or "used:<order>"; the budget left
-- is the campaign's budget minus the number of holders.
-- Returns {'missing'}; {'existing', state, issued at, code} for a holder (nothing taken);
-- {'refused', remaining, closes at or ''} when closed or spent; {'new', code}.
local c = redis.call('HMGET', KEYS[1], 'code', 'budget', 'until')
if not c[1] then
  return {'missing'}
end
local state = redis.call('HGET', KEYS[2], ARGV[1])
if state then
  return {'existing', state, redis.call('HGET', KEYS[3], ARGV[1]), c[1]}
end
local remaining = tonumber(c[2]) - redis.call('HLEN', KEYS[2])
if remaining <= 0 or (c[3] ~= '' and le(c[3], ARGV[2])) then
  return {'refused', num(remaining), c[3]}
end
redis.call('HSET', KEYS[2], ARGV[1], 'issued')
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return {'new', c[1]}
