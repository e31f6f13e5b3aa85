"""The Redis channel layer, with one extra operation: send one event to many groups at once.

A post goes to the group of every person on the care team (DESIGN.md, "A message's way").
channels_redis's `group_send` costs several Redis round trips per group and writes one inbox
entry per group, so a 100-person team cost 100 × 4 round trips inside the request and filled
each Daphne process's inbox 100 times faster. `group_send_many` reads the members of all the
groups in one pipeline, then stores the event once per receiving process (channels_redis
already packs all of a process's channels into one entry) with one script call: two round
trips whatever the team size.

It leans on two internals of channels_redis 4.x (`_map_channel_keys_to_connection` and the
layout of group keys); `tests/messaging/test_layer.py` checks them against the real Redis.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from typing import Any

from channels_redis.core import RedisChannelLayer

# Like channels_redis's group-send script, but it also drops the channel's expired entries
# first (channels_redis does that in a separate pipeline): one call per Redis connection.
_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, current_time - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class KizunaRedisChannelLayer(RedisChannelLayer):
    async def group_send_many(self, groups: Iterable[str], message: dict[str, Any]) -> int:
        """Send `message` to every channel in any of `groups`, each channel once.

        Returns how many receiving inboxes were over capacity (their copy is dropped: the
        layer is at-most-once and clients fill gaps from the database by seq).
        """
        keys_by_connection: dict[int, list[str]] = collections.defaultdict(list)
        for group in set(groups):
            assert self.require_valid_group_name(group), "Group name not valid"
            keys_by_connection[self.consistent_hash(group)].append(self._group_key(group))
        oldest = int(time.time()) - self.group_expiry
        channel_names: set[str] = set()
        for index, keys in keys_by_connection.items():
            pipe = self.connection(index).pipeline()
            for key in keys:
                pipe.zremrangebyscore(key, min=0, max=oldest)
                pipe.zrange(key, 0, -1)
            results = await pipe.execute()
            for members in results[1::2]:
                channel_names.update(m.decode("utf8") for m in members)
        if not channel_names:
            return 0
        by_connection, key_to_message, key_to_capacity = self._map_channel_keys_to_connection(
            sorted(channel_names), message
        )
        over_capacity = 0
        for index, channel_keys in by_connection.items():
            args = [key_to_message[k] for k in channel_keys]
            args += [key_to_capacity[k] for k in channel_keys]
            args += [time.time(), self.expiry]
            over_capacity += await self.connection(index).eval(
                _SEND_LUA, len(channel_keys), *channel_keys, *args
            )
        return int(over_capacity)
