-- Stores a claim's outcome for replay.
-- KEYS[1]: the record; KEYS[2]: its bucket's retention index.
-- ARGV[1]: the claim's token; ARGV[2]: now (ns); ARGV[3]: status; ARGV[4]: body;
-- ARGV[5]: retain until (ns); ARGV[6]: that as a score (us); ARGV[7]: real-time expiry (ms).
-- Only while the record is the claim's: its token, not dropped, not done, not past retention.
-- Returns 1, or 0: the claim was lost (taken over, dropped, completed or forgotten).
local r = redis.call('HMGET', KEYS[1], 'fp', 'token', 'retain', 'status')
if (not r[1]) or r[2] ~= ARGV[1] or r[4] or (not r[3]) or le(r[3], ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'body', ARGV[4], 'retain', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[6], KEYS[1])
return 1
