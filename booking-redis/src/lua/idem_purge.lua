-- Forgets the records of one bucket whose retention ended.
-- KEYS[1]: the bucket's retention index (its records share its hash tag, hence its slot).
-- ARGV[1]: now (ns); ARGV[2]: now as a score (us, rounded down); ARGV[3]: at most this many.
-- Deletes each due record whose stored retention ended by now, and drops index entries of
-- records Redis already expired. Returns how many records it deleted.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
local purged = 0
for _, key in ipairs(due) do
  local retain = redis.call('HGET', key, 'retain')
  if not retain then
    redis.call('ZREM', KEYS[1], key)
  elseif le(retain, ARGV[1]) then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], key)
    purged = purged + 1
  end
end
return purged
