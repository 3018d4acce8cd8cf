-- Claims an idempotency record, or returns it.
-- KEYS[1]: the record; KEYS[2]: its bucket's retention index.
-- ARGV[1]: the request's fingerprint (32 bytes); ARGV[2]: now (ns); ARGV[3]: the lease's end
-- (ns); ARGV[4]: retain until (ns); ARGV[5]: that as a score (us); ARGV[6]: real-time expiry
-- (ms, no shorter than the retention).
-- The record is a hash: fp, token, lease, retain, status, body (status and body once done).
-- A record without fp is a dropped claim, kept only so that the next token is larger.
-- Claims when the record is absent, dropped, past retention, or a claim of the same request
-- whose lease ended; returns {1, token}. Otherwise returns {0, fp, status, body, lease, retain}
-- unchanged, for the caller to answer replay, in flight or mismatch.
local r = redis.call('HMGET', KEYS[1], 'fp', 'token', 'lease', 'retain', 'status', 'body')
local now = ARGV[2]
local claimable = (not r[1]) or (not r[4]) or le(r[4], now)
  or ((not r[5]) and r[3] and le(r[3], now) and r[1] == ARGV[1])
if not claimable then
  return {0, r[1], r[5], r[6], r[3], r[4]}
end
local token = advance(r[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'token', token, 'lease', ARGV[3], 'retain', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], KEYS[1])
return {1, token}
