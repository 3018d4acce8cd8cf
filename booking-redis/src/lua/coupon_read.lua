-- Reads a campaign's budget left, or one user's coupon, in one consistent view.
-- KEYS: the campaign, its states, its issued-at. ARGV[1]: a user, or '' for the budget.
-- Returns {'missing'}; {'remaining', n}; {'coupon', state or false, issued at or false, code}.
local c = redis.call('HMGET', KEYS[1], 'code', 'budget')
if not c[1] then
  return {'missing'}
end
if ARGV[1] == '' then
  return {'remaining', num(tonumber(c[2]) - redis.call('HLEN', KEYS[2]))}
end
return {'coupon', redis.call('HGET', KEYS[2], ARGV[1]), redis.call('HGET', KEYS[3], ARGV[1]), c[1]}
