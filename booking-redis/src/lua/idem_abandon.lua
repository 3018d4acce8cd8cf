-- Drops a claim: the key is free for any request. The token stays (until the record's
-- retention) so the next claim's token is larger.
-- KEYS[1]: the record (KEYS[2], its retention index, is left as it is). ARGV[1]: the claim's token; ARGV[2]: now (ns).
-- Returns 1, or 0: the claim was lost (as for completion).
local r = redis.call('HMGET', KEYS[1], 'fp', 'token', 'retain', 'status')
if (not r[1]) or r[2] ~= ARGV[1] or r[4] or (not r[3]) or le(r[3], ARGV[2]) then
  return 0
end
redis.call('HDEL', KEYS[1], 'fp', 'lease', 'status', 'body')
return 1
