"""What Schemathesis cannot know about the hub from its OpenAPI document (tests/api.rs runs it).

Schemathesis sends real files for the image types it knows; for the other attachment types
and the e-mail webhook it needs the smallest files whose bytes the hub accepts as that type
(the hub checks each upload's magic bytes against its declared Content-Type).
"""

import os
import re
from datetime import datetime, timedelta, timezone

import schemathesis
from hypothesis import strategies as st

ZIP = b"PK\x03\x04" + bytes(26)

SAMPLES = {
    "application/pdf": b"%PDF-1.4\n%%EOF\n",
    "application/msword": bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ZIP
    + b"word/document.xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ZIP
    + b"xl/workbook.xml",
    "application/vnd.oasis.opendocument.text": ZIP
    + b"mimetypeapplication/vnd.oasis.opendocument.text",
    "message/rfc822": b"From: Pia <pia@example.org>\r\nTo: clinic@example.org\r\n"
    b"Subject: Hello\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\n",
}

for media_type, sample in SAMPLES.items():
    schemathesis.openapi.media_type(media_type, st.just(sample))

# A call's `occurred_at` must lie between the year 2000 and now (400 otherwise), which a schema
# cannot say: the run draws the date-times it sends from that window.
schemathesis.openapi.format(
    "date-time",
    st.datetimes(
        min_value=datetime(2000, 1, 2),
        max_value=datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1),
    ).map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")),
)

# Cursors are opaque: only one the hub answered is valid (any other string is 400), and no schema
# can describe those, so a valid (string) cursor is sent as the empty one: the first page.
# A `min_position` the read models have not reached answers 503 `not_caught_up` (the contract's
# read-your-writes), so one the hub would read as a position is sent as HUB_MIN_POSITION, a
# position they reached. Invalid values of either are sent as drawn, for the hub to refuse.
MIN_POSITION = int(os.environ["HUB_MIN_POSITION"])
POSITION = re.compile(r"\+?[0-9]+")


# A template's `whatsapp.parameters` must each be a `{{placeholder}}` of its subject or body (400
# otherwise), which a schema cannot say: in the cases meant to be valid, the run keeps only the
# parameters the text names, and sends no `whatsapp` part when none is left.
def keep_named_parameters(body):
    whatsapp = body.get("whatsapp")
    if not isinstance(whatsapp, dict) or not isinstance(whatsapp.get("parameters"), list):
        return
    text = "".join(part for part in (body.get("subject"), body.get("body")) if isinstance(part, str))
    named = [
        name
        for name in whatsapp["parameters"]
        if not isinstance(name, str) or "{{" + name + "}}" in text
    ]
    if named:
        whatsapp["parameters"] = named
    else:
        del body["whatsapp"]


# `send_at` must lie between now and 365 days ahead (400 otherwise), while every date-time is drawn
# from the past for call times (above): in the cases meant to be valid it is sent as a day ahead.
def send_in_a_day(body):
    if isinstance(body.get("send_at"), str):
        moment = datetime.now(timezone.utc) + timedelta(days=1)
        body["send_at"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@schemathesis.hook
def map_case(context, case):
    positive = case.meta is not None and not case.meta.generation.mode.is_negative
    if positive and isinstance(case.body, dict):
        keep_named_parameters(case.body)
        send_in_a_day(case.body)
    query = case.query
    if isinstance(query, dict):
        if isinstance(query.get("cursor"), str):
            query["cursor"] = ""
        position = query.get("min_position")
        if isinstance(position, bool):
            pass
        elif isinstance(position, int) and 0 <= position < 2**64:
            query["min_position"] = MIN_POSITION
        elif isinstance(position, str) and POSITION.fullmatch(position) and int(position) < 2**64:
            query["min_position"] = str(MIN_POSITION)
    return case
