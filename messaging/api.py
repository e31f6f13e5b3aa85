"""The messaging API: thin views that parse, call a service or selector, and render.

Thread access always goes through `messaging.access.access_thread` (and patient routes through
`patients.access.access_patient`): missing and not-visible give the same 404. It runs once per
request: the view hands the thread it checked to the service (`thread=`). Posting and searching are
rate-limited per person (`teams.throttle.limit`: 429 with `Retry-After`). Messages render with
`message_data` (the shape of `MessageOutputSerializer`, without its per-field cost).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.reads import AuditedRows
from config.api import Paginated, paginate
from messaging import requests, selectors, services
from messaging.access import access_thread, thread_pk
from messaging.models import Thread
from messaging.serializers import (
    CoordinationThreadInputSerializer,
    MessageEditInputSerializer,
    MessageOutputSerializer,
    MessagePageQuerySerializer,
    MessagePageSerializer,
    MessagePostInputSerializer,
    ReaderListSerializer,
    ReaderSerializer,
    ReadInputSerializer,
    ReadOutputSerializer,
    RequestCreateInputSerializer,
    RequestOutputSerializer,
    RequestReplyInputSerializer,
    RevisionListSerializer,
    RevisionSerializer,
    SearchQuerySerializer,
    SearchResultSerializer,
    SyncInputSerializer,
    SyncOutputSerializer,
    ThreadListItemSerializer,
    ThreadOutputSerializer,
    TopicThreadInputSerializer,
    message_data,
    request_data,
    sync_data,
)
from patients.access import Capability, access_patient
from teams import throttle
from teams.identity import signed_in


def _thread_list_response(view: APIView, request: Request, qs: AuditedRows[Thread]) -> Response:
    paginator, page = paginate(view, request, qs)
    selectors.attach_last_messages(page)
    return paginator.get_paginated_response(ThreadListItemSerializer(page, many=True).data)


class ThreadListView(Paginated, APIView):
    """My threads: unread counts, last message, patient name. POST opens a coordination thread."""

    @extend_schema(responses=ThreadListItemSerializer(many=True))
    def get(self, request: Request) -> Response:
        return _thread_list_response(self, request, selectors.thread_list(signed_in(request)))

    @extend_schema(
        request=CoordinationThreadInputSerializer, responses={201: ThreadOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = CoordinationThreadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        thread = services.thread_create_coordination(
            signed_in(request),
            title=data.validated_data["title"],
            organization_id=data.validated_data.get("organization"),
            network_id=data.validated_data.get("network"),
        )
        return Response(ThreadOutputSerializer(thread).data, status=status.HTTP_201_CREATED)


class PatientThreadListView(Paginated, APIView):
    """A patient's threads (contact book and topics). POST opens a topic thread."""

    @extend_schema(responses=ThreadListItemSerializer(many=True))
    def get(self, request: Request, patient_id: str) -> Response:
        patient = access_patient(request.user, patient_id)
        return _thread_list_response(
            self, request, selectors.patient_threads(signed_in(request), patient)
        )

    @extend_schema(request=TopicThreadInputSerializer, responses={201: ThreadOutputSerializer})
    def post(self, request: Request, patient_id: str) -> Response:
        access_patient(request.user, patient_id, capability=Capability.POST)
        data = TopicThreadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        thread = services.thread_create_topic(
            signed_in(request), patient_id=patient_id, title=data.validated_data["title"]
        )
        return Response(ThreadOutputSerializer(thread).data, status=status.HTTP_201_CREATED)


class ThreadDetailView(APIView):
    @extend_schema(responses=ThreadOutputSerializer)
    def get(self, request: Request, thread_id: str) -> Response:
        thread = selectors.thread_get(request.user, thread_id)
        return Response(ThreadOutputSerializer(thread).data)


class ThreadMessagesView(APIView):
    """GET: a cursor page of messages. POST: post a message (idempotent by `client_id`)."""

    throttled_methods = ("post",)

    @extend_schema(
        operation_id="v1_threads_messages_list",  # a cursor page, not one message
        parameters=[
            OpenApiParameter("after", int, description="このseqより後を古い順に"),
            OpenApiParameter("before", int, description="このseqより前を新しい順に"),
            OpenApiParameter("limit", int, description="既定50、最大200"),
        ],
        responses=MessagePageSerializer,
    )
    def get(self, request: Request, thread_id: str) -> Response:
        thread = access_thread(request.user, thread_id)
        query = MessagePageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows, has_more = selectors.messages_page(
            request.user,
            thread,
            after=query.validated_data.get("after"),
            before=query.validated_data.get("before"),
            limit=query.validated_data["limit"],
        )
        return Response(
            {
                "results": [message_data(m) for m in rows],
                "has_more": has_more,
                "last_seq": thread.last_seq,
            }
        )

    @extend_schema(
        request=MessagePostInputSerializer,
        responses={
            201: MessageOutputSerializer,
            200: OpenApiResponse(MessageOutputSerializer, description="同じclient_idの再送"),
        },
    )
    def post(self, request: Request, thread_id: str) -> Response:
        # The rate first: over it, a post costs no query (429 with Retry-After).
        throttle.limit("post", signed_in(request))
        # Then the gate: an outsider learns nothing from validation errors.
        thread = access_thread(request.user, thread_id, capability=Capability.POST)
        data = MessagePostInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.message_post(
            signed_in(request),
            thread=thread,
            client_id=data.validated_data["client_id"],
            body=data.validated_data["body"],
            kind=data.validated_data["kind"],
            priority=data.validated_data.get("priority"),
            reply_to_seq=data.validated_data.get("reply_to"),
            attachments=data.validated_data.get("attachments"),
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(message_data(result.message), status=code)


class MessageDetailView(APIView):
    """One message. PATCH edits and DELETE deletes it (its author only)."""

    @extend_schema(responses=MessageOutputSerializer)
    def get(self, request: Request, thread_id: str, seq: str) -> Response:
        thread = access_thread(request.user, thread_id)
        message = selectors.message_get(request.user, thread, seq)
        return Response(message_data(message))

    @extend_schema(request=MessageEditInputSerializer, responses=MessageOutputSerializer)
    def patch(self, request: Request, thread_id: str, seq: str) -> Response:
        thread = access_thread(request.user, thread_id, capability=Capability.POST)
        data = MessageEditInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_edit(
            signed_in(request), thread=thread, seq=seq, body=data.validated_data["body"]
        )
        return Response(message_data(message))

    @extend_schema(responses={200: MessageOutputSerializer})  # the tombstone, not 204
    def delete(self, request: Request, thread_id: str, seq: str) -> Response:
        message = services.message_delete(signed_in(request), thread=thread_pk(thread_id), seq=seq)
        return Response(message_data(message))


class MessageReadersView(APIView):
    """Who has read a message (既読), its author excepted."""

    @extend_schema(responses=ReaderListSerializer)
    def get(self, request: Request, thread_id: str, seq: str) -> Response:
        thread = access_thread(request.user, thread_id)
        readers = selectors.message_readers(thread, seq)
        return Response(
            {"count": len(readers), "results": ReaderSerializer(readers, many=True).data}
        )


class MessageRevisionsView(APIView):
    """The earlier texts of an edited message, oldest first."""

    @extend_schema(responses=RevisionListSerializer)
    def get(self, request: Request, thread_id: str, seq: str) -> Response:
        thread = access_thread(request.user, thread_id)
        revisions = selectors.message_revisions(request.user, thread, seq)
        return Response({"results": RevisionSerializer(revisions, many=True).data})


class ThreadReadView(APIView):
    """Mark a thread read up to a seq. The mark never moves backwards."""

    # Its write is the reader's own read mark: seeing the thread is enough (a break-glass
    # reader marks read too). The capability tests read this.
    capability = Capability.READ

    @extend_schema(request=ReadInputSerializer, responses=ReadOutputSerializer)
    def post(self, request: Request, thread_id: str) -> Response:
        thread = access_thread(request.user, thread_id)
        data = ReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mark = services.thread_mark_read(
            signed_in(request), thread=thread, seq=data.validated_data["seq"]
        )
        return Response({"thread": thread.pk, "last_read_seq": mark})


class SyncView(APIView):
    """Everything missed in the named threads, and the latest seq of all my other threads."""

    @extend_schema(request=SyncInputSerializer, responses=SyncOutputSerializer)
    def post(self, request: Request) -> Response:
        data = SyncInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = selectors.sync(signed_in(request), data.validated_data["threads"])
        return Response(sync_data(result))


class SearchView(Paginated, APIView):
    """Messages in my threads containing `q` (Japanese works), newest first."""

    throttled_methods = ("get",)

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True)],
        responses=SearchResultSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data["q"]
        throttle.limit("search", signed_in(request))
        paginator, page = paginate(self, request, selectors.search(request.user, q))
        selectors.attach_mentions(page)
        selectors.attach_read_by(page)
        selectors.attach_attachments(page)
        return paginator.get_paginated_response(
            [
                {
                    "thread": ThreadOutputSerializer(m.thread).data,
                    "message": message_data(m),
                }
                for m in page
            ]
        )


# --- requests ----------------------------------------------------------------------------


class ThreadRequestsView(APIView):
    """A thread's requests (GET, newest first). POST makes a request in it: a message that
    asks a person or a care-team role to do something, with a priority and a due time."""

    throttled_methods = ("post",)

    @extend_schema(responses=RequestOutputSerializer(many=True))
    def get(self, request: Request, thread_id: str) -> Response:
        thread = access_thread(request.user, thread_id, capability=Capability.READ)
        rows = requests.thread_requests(signed_in(request), thread)
        return Response([request_data(r) for r in rows])

    @extend_schema(
        request=RequestCreateInputSerializer,
        responses={201: RequestOutputSerializer, 200: RequestOutputSerializer},
    )
    def post(self, request: Request, thread_id: str) -> Response:
        throttle.limit("post", signed_in(request))
        thread = access_thread(request.user, thread_id, capability=Capability.POST)
        data = RequestCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        before = timezone.now()
        made = requests.request_create(
            signed_in(request),
            thread=thread,
            client_id=data.validated_data["client_id"],
            body=data.validated_data["body"],
            to_user=data.validated_data.get("to_user"),
            to_role=data.validated_data.get("to_role"),
            priority=data.validated_data.get("priority"),
            due_at=data.validated_data.get("due_at"),
        )
        code = status.HTTP_201_CREATED if made.created_at >= before else status.HTTP_200_OK
        return Response(request_data(made), status=code)


class MyRequestsView(APIView):
    """The open requests I must answer: oldest due first; `overdue` marks the late ones."""

    @extend_schema(responses=RequestOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = list(requests.open_requests_for(signed_in(request))[:200])
        return Response([request_data(r) for r in rows])


class RequestReplyView(APIView):
    """Answer a request: 確認しました, 対応中, 往診します, 電話します or 対応できません,
    and text."""

    throttled_methods = ("post",)

    @extend_schema(
        request=RequestReplyInputSerializer,
        responses={201: RequestOutputSerializer, 200: RequestOutputSerializer},
    )
    def post(self, request: Request, request_id: str) -> Response:
        throttle.limit("post", signed_in(request))
        data = RequestReplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        replied = requests.request_reply(
            signed_in(request),
            request_id=request_id,
            kind=data.validated_data["kind"],
            client_id=data.validated_data["client_id"],
            body=data.validated_data.get("body", ""),
        )
        code = status.HTTP_201_CREATED if replied.created else status.HTTP_200_OK
        return Response(request_data(replied.request), status=code)


class RequestWithdrawView(APIView):
    """The requester takes an open request back."""

    @extend_schema(request=None, responses=RequestOutputSerializer)
    def post(self, request: Request, request_id: str) -> Response:
        made = requests.request_withdraw(signed_in(request), request_id=request_id)
        return Response(request_data(made))
