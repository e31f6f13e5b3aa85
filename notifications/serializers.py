"""DRF serializers of notifications: notices out, preferences and push subscriptions in."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.models import Channel, Notice, Preference


class NoticeOut(serializers.ModelSerializer[Notice]):
    class Meta:
        model = Notice
        fields = ["id", "kind", "urgency", "title", "body", "url", "created_at", "read_at"]


class UnreadCountOut(serializers.Serializer[Any]):
    unread = serializers.IntegerField()


class MarkedOut(serializers.Serializer[Any]):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class PreferenceSerializer(serializers.ModelSerializer[Preference]):
    """Every field optional on input (PATCH and PUT alike change what is sent)."""

    routine = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        max_length=len(Channel.values),
        required=False,
    )
    important = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        max_length=len(Channel.values),
        required=False,
    )
    urgent = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        max_length=len(Channel.values),
        required=False,
    )
    quiet_start = serializers.TimeField(required=False, allow_null=True)
    quiet_end = serializers.TimeField(required=False, allow_null=True)
    time_zone = serializers.CharField(required=False, max_length=64)
    daily_digest = serializers.BooleanField(required=False)
    digest_hour = serializers.IntegerField(required=False, min_value=0, max_value=23)

    class Meta:
        model = Preference
        fields = [
            "routine",
            "important",
            "urgent",
            "quiet_start",
            "quiet_end",
            "time_zone",
            "daily_digest",
            "digest_hour",
        ]


class PushSubscriptionIn(serializers.Serializer[Any]):
    """The browser's `PushSubscription.toJSON()`: endpoint and keys."""

    endpoint = serializers.CharField(max_length=1000, trim_whitespace=False)
    keys = serializers.DictField(child=serializers.CharField(max_length=200))


class PushUnsubscribeIn(serializers.Serializer[Any]):
    endpoint = serializers.CharField(max_length=1000, trim_whitespace=False)


class PushKeyOut(serializers.Serializer[Any]):
    public_key = serializers.CharField(allow_blank=True)
