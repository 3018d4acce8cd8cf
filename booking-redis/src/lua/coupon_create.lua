-- Registers a coupon campaign.
-- KEYS[1]: the campaign. ARGV[1]: code; ARGV[2]: budget; ARGV[3]: issuance closes at (ns),
-- or '' for never.
-- Returns 1, or 0 when a campaign with this id exists (nothing changes).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'code', ARGV[1], 'budget', ARGV[2], 'until', ARGV[3])
return 1
